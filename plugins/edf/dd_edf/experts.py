"""Expert trajectories: networks trained on the real data, every epoch's parameters saved.

Each expert is its own cache entry (safetensors, keyed by the data fingerprint, architecture,
training settings, seed and expert index), so an interrupted ``dd edf experts`` resumes at the
next untrained expert and every later run reuses them. Training is ddcore's ``train_classifier``
as in MTT's buffers (momentum 0, no weight decay, constant learning rate, DSA on every batch);
``sam_rho > 0`` uses sharpness-aware minimisation as the DATM/EDF buffers do: SAM, or with
``sam_alpha`` and ``sam_adaptive`` adaptive GSAM as EDF's buffer code. Experts still missing
from the cache can train together (``batched``: one ``vmap`` over their networks), each exactly
as it would alone.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ddcore import (
    DSAParams, Draws, TrainSettings, architecture_fingerprint, batchable, build_model, claimed, data_rows, derive_seed, progress_bar,
    train_classifier, train_classifier_batched,
)

from .flat import flatten_parameters

CODE_VERSION = 1
GROUP = 10  # experts trained together at most: what an interruption can lose


@dataclass(frozen=True)
class ExpertSettings:
    model: str = "convnet"
    epochs: int = 20
    lr: float = 0.01
    batch_size: int = 256
    sam_rho: float = 0.0
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    precision: str = "fp32"
    dsa_crop_ratio: float = 0.125
    dsa_align_corners: bool = False
    sam_alpha: float = 0.0  # GSAM's α (with sam_rho > 0); 0 = SAM
    sam_adaptive: bool = False

    def key(self) -> dict:
        """What experts are cached under: the fields added later only when they differ from their
        defaults, so experts cached before those options existed are still found."""
        fields = asdict(self)
        for name, default in (("dsa_crop_ratio", 0.125), ("dsa_align_corners", False), ("sam_alpha", 0.0), ("sam_adaptive", False)):
            if fields[name] == default:
                del fields[name]
        return fields

    def sharpness(self) -> str:
        """How the experts' minimiser is described in the log: ", adaptive GSAM rho 0.01 alpha 0.3", ", SAM rho 0.01" or ""."""
        if not self.sam_rho:
            return ""
        kind = ("adaptive " if self.sam_adaptive else "") + ("GSAM" if self.sam_alpha else "SAM")
        return f", {kind} rho {self.sam_rho}" + (f" alpha {self.sam_alpha}" if self.sam_alpha else "")

    def training(self, compile: bool = False, channels_last: bool = False) -> TrainSettings:
        """The shared loop's settings; ``compile`` and ``channels_last`` only change how fast it runs (not cache keys)."""
        return TrainSettings(epochs=self.epochs, lr=self.lr, momentum=0.0, weight_decay=0.0, batch_size=self.batch_size,
                             dsa_strategy=self.dsa_strategy, decay_at_half=False, sam_rho=self.sam_rho,
                             sam_alpha=self.sam_alpha, sam_adaptive=self.sam_adaptive,
                             precision=self.precision, compile=compile, channels_last=channels_last,
                             dsa_params=DSAParams(crop_ratio=self.dsa_crop_ratio, align_corners=self.dsa_align_corners))


def _expert_net(data, settings: ExpertSettings, seed: int):
    torch.manual_seed(derive_seed(seed, "expert-init"))
    return build_model(settings.model, data.image_shape[0], data.num_classes, data.image_shape[1:])


def _draws(seed: int, device: torch.device) -> Draws:
    return Draws.seeded(derive_seed(seed, "expert-train"), device)


def train_expert(data, settings: ExpertSettings, seed: int, device: torch.device, desc: str, quiet: bool,
                 compile: bool = False, channels_last: bool = False) -> torch.Tensor:
    """One trajectory: (epochs + 1) × P parameters, epoch 0 being the initialisation."""
    return train_experts(data, settings, [seed], device, desc, quiet, batched=False, compile=compile, channels_last=channels_last)[0]


def train_experts(data, settings: ExpertSettings, seeds: list[int], device: torch.device, desc: str, quiet: bool,
                  batched: bool, compile: bool = False, channels_last: bool = False) -> list[torch.Tensor]:
    """One trajectory per seed; together (vmap) when ``batched`` and the network allows it."""
    nets = [_expert_net(data, settings, s).to(device) for s in seeds]
    draws = [_draws(s, device) for s in seeds]
    snapshots: list[list[torch.Tensor]] = [[flatten_parameters(net).cpu()] for net in nets]
    bar = lambda it: progress_bar(it, desc=desc, quiet=quiet)  # noqa: E731
    x_all, y_all = data_rows(data, device), data.train_labels
    if batched and len(nets) > 1 and batchable(nets[0]) and not (settings.sam_alpha or settings.sam_adaptive):  # GSAM: one at a time
        def save_all(trained):
            for shots, net in zip(snapshots, trained):
                shots.append(flatten_parameters(net).cpu())

        train_classifier_batched(nets, [x_all] * len(nets), [y_all] * len(nets), settings.training(), draws, device,
                                 progress=bar, on_epoch=save_all)
    else:
        for k, net in enumerate(nets):
            train_classifier(net, x_all, y_all, settings.training(compile, channels_last), draws[k], device, progress=bar,
                             on_epoch=lambda trained, k=k: snapshots[k].append(flatten_parameters(trained).cpu()))
    return [torch.stack(shots) for shots in snapshots]


def experts_spec(data, settings: ExpertSettings, seed: int) -> dict:
    """What every expert of this set is keyed by; each entry adds its ``index``."""
    net = build_model(settings.model, data.image_shape[0], data.num_classes, data.image_shape[1:])
    return {"data": data.fingerprint(), "shape": list(data.image_shape), "classes": data.num_classes,
            "architecture": architecture_fingerprint(net),
            "settings": settings.key(), "seed": seed, "code": CODE_VERSION}


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

    def on(self, epoch: int, device: torch.device) -> torch.Tensor:
        """``self[epoch]`` on ``device``; to a GPU from pinned memory without waiting for it (the
        copy queues behind the GPU's work instead of stalling the host until the GPU is idle)."""
        row = self[epoch]
        if torch.device(device).type != "cuda":
            return row.to(device)
        return row.pin_memory().to(device, non_blocking=True)


def load_or_train_experts(cache, data, settings: ExpertSettings, num: int, seed: int, device: torch.device,
                          log=logging.getLogger("ddcore.edf").info, quiet: bool = False,
                          batched: bool | None = None, compile: bool = False, channels_last: bool = False, dist=None) -> list[Trajectory]:
    """``num`` trajectories, trained (and cached one file each) where the cache lacks them or holds a
    damaged file (checksummed by the cache, which sets a damaged one aside); returned as
    ``Trajectory`` readers, not tensors. ``batched``: train the missing ones together, up to
    ``GROUP`` at a time (unset: together on a GPU, one by one on a CPU). ``dist`` (torchrun):
    expert i trains on rank i mod W, then every rank reads them all. Processes that need the same
    experts at once share them: each claims (``claimed``) and trains the next one no other process
    is training, then waits for those still being trained elsewhere."""
    common = experts_spec(data, settings, seed)  # built once: it constructs a network
    spec = lambda i: {**common, "index": i}  # noqa: E731
    paths = [cache.file_for("edf-expert", spec(i)) for i in range(num)]
    cached = lambda i: cache.checked_file("edf-expert", spec(i)) is not None  # noqa: E731
    missing = [i for i in range(num) if not cached(i)]
    together = batched if batched is not None else device.type == "cuda"
    if missing:
        log(f"training {len(missing)} expert trajectories: {settings.model}, {settings.epochs} epochs, lr {settings.lr}"
            + settings.sharpness() + (", together" if together else ""))
    trained: list[int] = []

    def train(chunk: list[int]) -> None:
        desc = f"expert {chunk[0] + 1}/{num}" if len(chunk) == 1 else f"experts {chunk[0] + 1}-{chunk[-1] + 1}/{num}"
        seeds, started = [derive_seed(seed, "expert", i) for i in chunk], time.perf_counter()
        for i, traj in zip(chunk, train_experts(data, settings, seeds, device, desc, quiet, together, compile, channels_last)):
            cache.save("edf-expert", spec(i), {"trajectory": traj})
        trained.extend(chunk)
        log(f"{desc} trained in {time.perf_counter() - started:.0f} s and cached")  # the log's progress on long runs (no bar there)

    mine = [i for i in missing if dist is None or i % dist.world_size == dist.rank]
    pending = list(mine)
    while pending:
        with ExitStack() as held:  # the next group no other process is training, claimed while this one trains it
            chunk = []
            for i in pending:
                if len(chunk) < (GROUP if together else 1) and held.enter_context(claimed(cache, "edf-expert", spec(i), wait=False)):
                    chunk.append(i)
            pending = [i for i in pending if i not in chunk]
            if chunk:
                if todo := [i for i in chunk if not cached(i)]:  # one another process finished since the check is not trained again
                    train(todo)
                continue
        with claimed(cache, "edf-expert", spec(pending[0]), log=log):  # the rest are other processes': wait for one
            if not cached(pending[0]):  # its process stopped before it was done
                train([pending[0]])
        pending.pop(0)
    if dist is not None:
        dist.barrier()  # every rank's experts are on disk
    now = len(trained) + len([i for i in missing if i not in mine])  # torchrun: the other ranks' count as this job's
    log(f"{num} expert trajectories ({now} trained now, {num - now} from the cache in {cache.root / 'edf-expert'})")
    return [Trajectory(paths[i]) for i in range(num)]
