"""Training a classifier on a (small or full) labelled image set: the loop every stage shares.

Used by the evaluation protocol, and by plugins that train their own helpers on the real data
(expert trajectories, CAM models, detectors, feature extractors). Labels are hard class indices
(N,) or soft logits (N, K) (cross-entropy against ``softmax(logits / temperature)``).

GPU knobs (CPU results are unchanged by their defaults): ``precision="bf16"`` runs forward passes
under bf16 autocast (``autocast``), ``channels_last`` stores a convolutional network and its
batches channels-last, ``compile`` runs the network through ``torch.compile``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .augment import DEFAULT_STRATEGY, DSAParams, Draws, as_draws, dsa

Precision = Literal["fp32", "bf16"]


@dataclass
class TrainSettings:
    epochs: int
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    dsa_strategy: str = DEFAULT_STRATEGY  # "none" turns augmentation off
    temperature: float = 1.0
    decay_at_half: bool = True  # lr × 0.1 after half the epochs (the MTT/DATM protocol)
    reset_momentum_at_decay: bool = False  # the official evaluation recreates SGD at the decay, dropping its momentum
    dsa_params: DSAParams = DSAParams()  # crop ratio, align_corners, ... of the DSA families
    sam_rho: float = 0.0  # > 0: sharpness-aware minimisation with this radius (the DATM/EDF expert buffers)
    sam_alpha: float = 0.0  # > 0 with sam_rho: GSAM's α (EDF's expert buffers: 0.3); 0 = SAM
    sam_adaptive: bool = False  # the perturbation scaled by |w| (GSAM's adaptive=True, as EDF's buffers)
    precision: Precision = "fp32"
    channels_last: bool = False
    compile: bool = False


def autocast(precision: str, device: torch.device):
    """bf16 autocast on ``device`` when ``precision == "bf16"``, else nothing (fp32 as written)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"precision {precision!r} is not fp32 or bf16")
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Cross-entropy against the distribution ``softmax(target_logits / temperature)``."""
    p = F.softmax(target_logits / temperature, dim=1)
    return -(p * F.log_softmax(logits, dim=1)).sum(1).mean()


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    if logits.dtype in (torch.bfloat16, torch.float16):
        logits = logits.float()  # logits from autocast: the loss itself in fp32
    if targets.dim() == 2:
        return soft_cross_entropy(logits, targets, temperature)
    return F.cross_entropy(logits, targets)


def rows(images: torch.Tensor | Callable, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``index -> images`` on ``device``: a tensor moved there once, or a function as it is (``data_rows``)."""
    if callable(images):
        return images
    on_device = images.to(device)
    return lambda index: on_device[index]


def data_rows(data, device: torch.device, split: str = "train") -> Callable[[torch.Tensor], torch.Tensor]:
    """The rows of ``data``'s split, normalised on ``device`` a batch at a time (nothing float kept on the host)."""
    return lambda index: data.images_of(split, index, device)


def sam_perturbation(grads: list[torch.Tensor], rho: float, weights: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """SAM's ascent ε = ρ g / ‖g‖ (one norm over all of a network's parameters); with ``weights``
    (adaptive, as ASAM and GSAM's ``adaptive=True``) ε = ρ w² g / ‖|w| g‖."""
    if weights is None:
        norm = torch.norm(torch.stack([g.norm() for g in grads])) + 1e-12
        return [rho * g / norm for g in grads]
    norm = torch.norm(torch.stack([(w.abs() * g).norm() for g, w in zip(grads, weights)])) + 1e-12
    return [rho * w.pow(2) * g / norm for g, w in zip(grads, weights)]


def gsam_gradient(at_w: list[torch.Tensor], at_peak: list[torch.Tensor], alpha: float) -> list[torch.Tensor]:
    """GSAM's update direction (Zhuang et al. 2022): the perturbed gradient g_p minus α times the
    part of the plain gradient g orthogonal to it, g_p − α (g − (g·g_p / ‖g_p‖²) g_p), which lowers
    the surrogate gap without raising the perturbed loss."""
    inner = sum((g * gp).sum() for g, gp in zip(at_w, at_peak))
    peak_sq = sum((gp * gp).sum() for gp in at_peak) + 1e-24
    return [gp - alpha * (g - inner / peak_sq * gp) for g, gp in zip(at_w, at_peak)]


def _step(net: nn.Module, forward: Callable, loss_of: Callable, opt: torch.optim.Optimizer, rho: float,
          alpha: float = 0.0, adaptive: bool = False) -> None:
    """One SGD step on ``loss_of(forward)``; with ``rho > 0`` SAM's: the gradient is taken at the
    worst point within radius ρ (Foret et al. 2021), then applied at the original weights; with
    ``alpha > 0`` GSAM's direction instead (``gsam_gradient``); ``adaptive`` scales ε by |w|."""
    opt.zero_grad(set_to_none=True)
    loss_of(forward).backward()
    if rho > 0:
        params = [p for p in net.parameters() if p.grad is not None]
        plain = [p.grad.detach().clone() for p in params] if alpha else None
        eps = sam_perturbation([p.grad for p in params], rho, [p.detach() for p in params] if adaptive else None)
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.add_(e)
        opt.zero_grad(set_to_none=True)
        loss_of(forward).backward()
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.sub_(e)
            if alpha:
                for p, g in zip(params, gsam_gradient(plain, [p.grad for p in params], alpha)):
                    p.grad.copy_(g)
    opt.step()


def train_classifier(
    net: nn.Module, images: torch.Tensor | Callable, targets: torch.Tensor, settings: TrainSettings,
    generator: torch.Generator | Draws, device: torch.device,
    progress: Callable | None = None, on_epoch: Callable[[nn.Module], None] | None = None, resume_file: Path | None = None,
) -> nn.Module:
    """SGD with momentum for ``settings.epochs`` epochs; returns ``net`` (trained in place).

    ``images``: a tensor, or ``data_rows(data, device)`` to stream a dataset's split batch by batch.
    ``generator`` (a CPU generator, or ``Draws.seeded(seed, device)``) drives shuffling and
    augmentation, so equal seeds give equal runs. ``on_epoch(net)`` runs after every epoch (expert
    trajectories save their parameters there). ``resume_file``: after every epoch the network, the
    optimizer and the draws are saved there, and a call that finds the file continues from it, so
    a killed training loses at most one epoch and ends where an uninterrupted one would.
    """
    draws = as_draws(generator)
    net.to(device).train()
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    if settings.channels_last:
        net.to(memory_format=memory_format)
    forward = torch.compile(net) if settings.compile else net
    x_all, y_all = rows(images, device), targets.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    start = _resume_training(resume_file, net, opt, draws, device) if resume_file is not None else 0
    epochs = range(start, settings.epochs)
    for epoch in progress(epochs) if progress else epochs:
        if settings.decay_at_half and epoch >= settings.epochs // 2 + 1:
            for group in opt.param_groups:
                group["lr"] = settings.lr * 0.1
            if settings.reset_momentum_at_decay and epoch == settings.epochs // 2 + 1:
                opt.state.clear()  # what a new SGD optimiser at the decay starts with
        order = draws.permutation(len(y_all)).to(device)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            x = dsa(x_all(idx), draws, settings.dsa_strategy, params=settings.dsa_params) if settings.dsa_strategy != "none" else x_all(idx)
            x = x.contiguous(memory_format=memory_format)

            def loss_of(f, x=x, idx=idx):
                with autocast(settings.precision, device):
                    logits = f(x)
                return classification_loss(logits, y_all[idx], settings.temperature)

            _step(net, forward, loss_of, opt, settings.sam_rho, settings.sam_alpha, settings.sam_adaptive)
        if on_epoch is not None:
            on_epoch(net)
        if resume_file is not None:
            _save_training(resume_file, net, opt, draws, epoch + 1)
    return net.eval()


def cpu_numerics() -> dict:
    """What a result computed on a CPU depends on beyond its seeds, for manifests and result files:
    the thread count (another count sums in another order) and the instruction set torch's kernels
    use (AVX2 and AVX512 round differently)."""
    return {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def progress_file(cache, kind: str, spec: dict) -> Path:
    """Where a long build of the cache entry ``(kind, spec)`` keeps its ``save_progress`` state,
    beside the entry, so a killed build continues; deleted once the entry is published."""
    from ddcore.cache import spec_key

    return cache.root / kind / f"{spec_key(kind, spec)}.partial.pt"


def save_progress(path: Path, state: dict) -> None:
    """A training loop's progress (state dicts, generator states, counters) written atomically,
    through a Python file so that a full disk is the one-sentence ENOSPC error."""
    from ddcore.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)


def load_progress(path: Path, device: torch.device, log: Callable[[str], None] | None = None) -> dict | None:
    """What ``save_progress`` wrote (tensors only: ``weights_only``), or None when there is none or it
    is unreadable (then it is deleted, said through ``log``, and training starts over)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # cut by a kill mid-write on a filesystem without atomic rename, or damaged
        from ddcore.logs import logger_for

        (log or logger_for().warning)(f"{path} is unreadable ({str(exc).splitlines()[0][:200]}); training from the first epoch")
        path.unlink()
        return None


def _save_training(path: Path, net: nn.Module, opt, draws: Draws, epochs_done: int) -> None:
    save_progress(path, {"net": net.state_dict(), "opt": opt.state_dict(), "draws": list(draws.get_state()), "epochs": epochs_done})


def _resume_training(path: Path, net: nn.Module, opt, draws: Draws, device: torch.device) -> int:
    """The epochs already done by an interrupted call (0 when there was none); restores its state."""
    state = load_progress(path, device)
    if state is None:
        return 0
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["opt"])
    draws.host.set_state(state["draws"][0].cpu())
    if state["draws"][1] is not None:
        draws.device.set_state(state["draws"][1].cpu())
    return int(state["epochs"])


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor | Callable, device: torch.device, batch_size: int = 1024,
            precision: str = "fp32", count: int | None = None) -> torch.Tensor:
    """Logits (a CPU float tensor) for ``images``: a tensor, or ``index -> images`` (``data_rows``)
    for ``count`` rows, read a batch at a time so a split never exists whole as floats."""
    net.eval()
    batches = (images(i) for i in torch.arange(count).split(batch_size)) if callable(images) else images.split(batch_size)
    with autocast(precision, device):
        return torch.cat([net(b.to(device)).float().cpu() for b in batches])


def accuracy(net: nn.Module, images: torch.Tensor | Callable, labels: torch.Tensor, device: torch.device, precision: str = "fp32") -> float:
    """Top-1 accuracy on ``images`` (a tensor or ``data_rows(data, device, "test")``)."""
    return float((predict(net, images, device, precision=precision, count=len(labels)).argmax(1) == labels).float().mean())
