"""K networks of one architecture trained together: the evaluation protocol's nets, or experts, in one pass.

``train_classifier_batched`` is ``train_classifier`` (``training.py``) for K networks at once. Each
network keeps its own initialisation, its own training images (the random baseline draws a subset
per network), its own generator for batch order and DSA draws, and its own SGD state; the K
minibatches of a step are stacked and run through one ``torch.func.vmap`` of the network, and one
backward gives every network its own gradient (the loss is their sum). So network k ends where
its sequential run would, within float rounding (a test checks it). Networks with buffers
(BatchNorm running statistics) are not batched: ``batchable`` says so and callers train them one
after another.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .augment import Draws, as_draws, dsa
from .training import TrainSettings, autocast, classification_loss, rows


def batchable(net: nn.Module) -> bool:
    """Only networks without buffers: vmap cannot update K running statistics in place."""
    return not any(True for _ in net.buffers())


def train_classifier_batched(nets: list[nn.Module], images: list[torch.Tensor], targets: list[torch.Tensor],
                             settings: TrainSettings, generators: list[torch.Generator | Draws], device: torch.device,
                             progress: Callable | None = None,
                             on_epoch: Callable[[list[nn.Module]], None] | None = None) -> list[nn.Module]:
    """Train ``nets[k]`` on ``images[k]``/``targets[k]`` with ``generators[k]``, all K together; returns
    the nets (trained in place, eval mode). Every images[k] must have the same length. ``on_epoch(nets)``
    runs after every epoch with each net holding its current parameters. ``settings.sam_rho`` takes
    each network's SAM step with its own gradient norm; ``channels_last`` and ``compile`` do not
    apply here (vmap runs the stacked networks)."""
    from torch.func import functional_call, stack_module_state

    if settings.sam_alpha or settings.sam_adaptive:
        raise ValueError("GSAM and adaptive SAM train one network at a time; train these one after another")
    sizes = {len(y) for y in targets}
    if len(sizes) != 1:
        raise ValueError(f"batched training needs the same number of images per network, got {sorted(sizes)}")
    for net in nets:
        net.to(device).train()
    params, _ = stack_module_state(nets)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    momentum = {k: None for k in params}
    xs = [rows(x, device) for x in images]
    ys = [y.to(device) for y in targets]
    draws = [as_draws(g) for g in generators]
    base = nets[0]

    def forward(p, x):
        return functional_call(base, p, (x,))

    batched_forward = torch.func.vmap(forward)

    def gradients(batch, idx):
        with autocast(settings.precision, device):
            logits = batched_forward(params, batch)
        loss = sum(classification_loss(logits[k], y[i], settings.temperature) for k, (y, i) in enumerate(zip(ys, idx)))
        return torch.autograd.grad(loss, list(params.values()))

    lr = settings.lr
    epochs = range(settings.epochs)
    for epoch in progress(epochs) if progress else epochs:
        if settings.decay_at_half and epoch == settings.epochs // 2 + 1:
            lr = settings.lr * 0.1
            if settings.reset_momentum_at_decay:
                momentum = {k: None for k in params}
        orders = [d.permutation(len(ys[0])).to(device) for d in draws]
        for start in range(0, len(orders[0]), settings.batch_size):
            idx = [o[start:start + settings.batch_size] for o in orders]
            batch = torch.stack([dsa(x(i), d, settings.dsa_strategy, params=settings.dsa_params) if settings.dsa_strategy != "none" else x(i)
                                 for x, i, d in zip(xs, idx, draws)])
            grads = gradients(batch, idx)
            if settings.sam_rho > 0:
                grads = _sam_gradients(params, grads, settings.sam_rho, lambda: gradients(batch, idx))
            with torch.no_grad():
                for (name, p), g in zip(params.items(), grads):
                    step = g + settings.weight_decay * p if settings.weight_decay else g
                    if settings.momentum:
                        buf = momentum[name]
                        momentum[name] = step.clone() if buf is None else buf.mul_(settings.momentum).add_(step)
                        step = momentum[name]
                    p.sub_(lr * step)
        if on_epoch is not None:
            _copy_into(nets, params)
            on_epoch(nets)
    _copy_into(nets, params)
    for net in nets:
        net.eval()
    return nets


def _sam_gradients(params: dict[str, torch.Tensor], grads: tuple[torch.Tensor, ...], rho: float, again: Callable):
    """SAM for K stacked networks: network k ascends by ρ g_k / ‖g_k‖ (its own norm), the gradient
    is taken there, and the weights go back before the step."""
    with torch.no_grad():
        norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt() + 1e-12  # (K,)
        eps = [rho * g / norms.view(-1, *([1] * (g.dim() - 1))) for g in grads]
        for p, e in zip(params.values(), eps):
            p.add_(e)
    perturbed = again()
    with torch.no_grad():
        for p, e in zip(params.values(), eps):
            p.sub_(e)
    return perturbed


@torch.no_grad()
def _copy_into(nets: list[nn.Module], params: dict[str, torch.Tensor]) -> None:
    for k, net in enumerate(nets):
        for name, p in net.named_parameters():
            p.copy_(params[name][k])
