"""Expert trajectories: networks trained on the real data, every epoch's parameters saved.

Each expert is its own cache entry (safetensors, keyed by the data fingerprint, architecture,
training settings, seed and expert index), so an interrupted ``dd edf experts`` resumes at the
next untrained expert and every later run reuses them. Training is SGD as in MTT's buffers
(momentum 0, no weight decay, constant learning rate, DSA on every batch); ``sam_rho > 0``
uses sharpness-aware minimisation as the DATM/EDF buffers do (plain SAM, not GSAM).
"""

from __future__ import annotations

import logging

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ddcore import architecture_fingerprint, build_model, classification_loss, data_rows, derive_seed, dsa, progress_bar

from .flat import flatten_parameters

CODE_VERSION = 1


@dataclass(frozen=True)
class ExpertSettings:
    model: str = "convnet"
    epochs: int = 20
    lr: float = 0.01
    batch_size: int = 256
    sam_rho: float = 0.0
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"


def _sam_step(net, loss_fn, opt, rho: float) -> torch.Tensor:
    """One SAM step: ascend to the worst point within radius rho, take the gradient there."""
    loss = loss_fn()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for p in net.parameters() if p.grad is not None]
    norm = torch.norm(torch.stack([p.grad.norm() for p in params])) + 1e-12
    eps = [rho * p.grad / norm for p in params]
    with torch.no_grad():
        for p, e in zip(params, eps):
            p.add_(e)
    opt.zero_grad(set_to_none=True)
    loss_fn().backward()
    with torch.no_grad():
        for p, e in zip(params, eps):
            p.sub_(e)
    opt.step()
    return loss


def train_expert(data, settings: ExpertSettings, seed: int, device: torch.device, desc: str, quiet: bool) -> torch.Tensor:
    """One trajectory: (epochs + 1) × P parameters, epoch 0 being the initialisation."""
    torch.manual_seed(derive_seed(seed, "expert-init"))
    net = build_model(settings.model, data.image_shape[0], data.num_classes, data.image_shape[1:]).to(device).train()
    g = torch.Generator().manual_seed(derive_seed(seed, "expert-train"))
    opt = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=0.0, weight_decay=0.0)
    x_all, y_all = data_rows(data, device), data.train_labels.to(device)
    snapshots = [flatten_parameters(net).cpu()]
    for _ in progress_bar(range(settings.epochs), desc=desc, quiet=quiet):
        order = torch.randperm(len(y_all), generator=g).to(device)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            x = dsa(x_all(idx), g, settings.dsa_strategy)
            if settings.sam_rho > 0:
                _sam_step(net, lambda: classification_loss(net(x), y_all[idx]), opt, settings.sam_rho)
            else:
                loss = classification_loss(net(x), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        snapshots.append(flatten_parameters(net).cpu())
    return torch.stack(snapshots)


def experts_spec(data, settings: ExpertSettings, seed: int) -> dict:
    """What every expert of this set is keyed by; each entry adds its ``index``."""
    net = build_model(settings.model, data.image_shape[0], data.num_classes, data.image_shape[1:])
    return {"data": data.fingerprint(), "shape": list(data.image_shape), "classes": data.num_classes,
            "architecture": architecture_fingerprint(net),
            "settings": asdict(settings), "seed": seed, "code": CODE_VERSION}


class Trajectory:
    """One expert's trajectory in its cache file, (epochs + 1) × P, read one epoch at a time.

    ``traj[s]`` reads row ``s`` through ``safe_open`` (a slice of the file, not the file), so
    matching holds two epochs of one expert, however many experts there are.
    """

    def __init__(self, path: Path):
        from safetensors import safe_open

        self.path = str(path)
        with safe_open(self.path, framework="pt") as f:
            self.shape = tuple(f.get_slice("trajectory").get_shape())

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, epoch: int) -> torch.Tensor:
        from safetensors import safe_open

        row = epoch + self.shape[0] if epoch < 0 else epoch
        if not 0 <= row < self.shape[0]:
            raise IndexError(f"epoch {epoch} of a trajectory with {self.shape[0]} epochs")
        with safe_open(self.path, framework="pt") as f:
            return f.get_slice("trajectory")[row]


def _readable(path: Path) -> Trajectory | None:
    try:
        traj = Trajectory(path)
        traj[-1]
        return traj
    except Exception:  # truncated or damaged: train it again
        return None


def load_or_train_experts(cache, data, settings: ExpertSettings, num: int, seed: int, device: torch.device,
                          log=logging.getLogger("ddcore.edf").info, quiet: bool = False) -> list[Trajectory]:
    """``num`` trajectories, trained (and cached one file each) where the cache lacks them or holds a
    damaged file; returned as ``Trajectory`` readers, not tensors."""
    out = []
    trained = 0
    common = experts_spec(data, settings, seed)  # built once: it constructs a network
    for i in range(num):
        spec = {**common, "index": i}
        path = cache.file_for("edf-expert", spec)
        traj = _readable(path) if path.exists() else None
        if traj is None:
            if path.exists():
                log(f"expert {i}'s cache file {path} is damaged; training it again")
            elif trained == 0:
                log(f"training expert trajectories: {settings.model}, {settings.epochs} epochs, lr {settings.lr}"
                    + (f", SAM rho {settings.sam_rho}" if settings.sam_rho else ""))
            cache.save("edf-expert", spec, {"trajectory": train_expert(data, settings, derive_seed(seed, "expert", i), device,
                                                                       f"expert {i + 1}/{num}", quiet)})
            traj = Trajectory(path)
            trained += 1
        out.append(traj)
    log(f"{num} expert trajectories ({trained} trained now, {num - trained} from the cache in {cache.root / 'edf-expert'})")
    return out
