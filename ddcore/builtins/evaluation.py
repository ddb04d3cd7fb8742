"""The built-in evaluator ``fresh_nets``: the protocol every method is judged by (DESIGN.md).

Train K fresh networks from scratch on the set, test each on the real test split, report the
mean ± std of **final-epoch** accuracy (never the best epoch on the test set). The identical
protocol, with the same K initialisation seeds, runs on the baselines: a random real subset
with the same images per class (a fresh subset per network, so its ± includes the choice of
subset) and, on request, the full training set. Its options are the run's ``eval.*``. Under
torchrun network k trains on rank k mod W and the accuracies are gathered, so every rank ends with
the one-process result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ddcore.components import Evaluator
from ddcore.hookspecs import hookimpl
from ddcore.models import ModelName
from ddcore.options import Options

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ddcore.artifact import DistilledSet
    from ddcore.context import RunContext
    from ddcore.distributed import Dist
    from ddcore.realdata import RealData

DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"
DSA_FAMILIES = set(DSA_STRATEGY.split("_"))


class EvalOptions(Options):
    num_nets: int = Field(5, ge=1, description="K: fresh networks trained from scratch; the result is their mean ± std")
    model: ModelName = Field("convnet", description="architecture: convnet[-dN][-wN][-in|-bn|-ln|-nn] or timm:NAME")
    epochs: int = Field(300, ge=1, description="training epochs per network (MTT/DATM/EDF use 1000)")
    lr: float = Field(0.01, gt=0, description="SGD learning rate, used when the set has no learned one (or use_learned_lr=false)")
    use_learned_lr: bool = Field(True, description="train with the set's learned learning rate when it has one")
    momentum: float = Field(0.9, ge=0, description="SGD momentum")
    weight_decay: float = Field(5e-4, ge=0, description="SGD weight decay")
    batch_size: int = Field(256, ge=1, description="minibatch size")
    dsa_strategy: str = Field(DSA_STRATEGY, description="DSA families joined by '_', one drawn per batch; 'none' disables augmentation")
    dsa_crop_ratio: float = Field(0.125, ge=0, le=0.5, description="DSA crop: shift by up to this fraction of the side "
                                                                   "(the official EDF code: 0.25 on 8×8 digits, ±2 px)")
    dsa_align_corners: bool = Field(False, description="DSA scale/rotate grids with align_corners=True, as the MTT/DATM/EDF code")
    reset_momentum_at_decay: bool = Field(False, description="drop SGD's momentum at the learning-rate decay, as the official "
                                                             "evaluation does by recreating its optimiser there")
    temperature: float = Field(1.0, gt=0, description="soft labels: cross-entropy against softmax(logits / temperature)")
    seed: int = Field(0, description="seeds network k's initialisation and batch order (the same for the set and its baselines)")
    batched: bool | None = Field(None, description="train the K networks together (vmap) instead of one after another; "
                                                   "unset = together on a GPU, one after another on a CPU (the faster there)")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="forward passes in fp32, or under bf16 autocast (for GPUs)")
    channels_last: bool | None = Field(None, description="store networks and batches channels-last (one after another only); "
                                                         "unset = on a GPU with bf16, where tensor cores want it")
    compile: bool = Field(False, description="run each network through torch.compile (one after another only; compiling "
                                             "takes a while, so it pays off for long protocols)")

    @model_validator(mode="after")
    def _compile_alone(self) -> "EvalOptions":
        if self.compile and self.batched:
            raise ValueError("eval.compile compiles each network on its own, so it cannot train them together; "
                             "drop eval.batched=true or eval.compile=true")
        return self

    @field_validator("dsa_strategy")
    @classmethod
    def _known_families(cls, value: str) -> str:
        bad = [f for f in value.split("_") if f not in DSA_FAMILIES] if value != "none" else []
        if bad:
            raise ValueError(f"unknown DSA family {bad[0]!r}; join some of {', '.join(sorted(DSA_FAMILIES))} with '_', or 'none'")
        return value


BASELINES = ("random", "full")
LOG = logging.getLogger("ddcore.evaluation")  # log.txt always; stderr under `dd run` (a line per network without a terminal)


def settings_for(protocol: EvalOptions, lr: float, device: torch.device):
    from .augment import DSAParams
    from .training import TrainSettings

    channels_last = protocol.channels_last if protocol.channels_last is not None else (
        device.type == "cuda" and protocol.precision == "bf16")
    return TrainSettings(
        epochs=protocol.epochs, lr=lr, momentum=protocol.momentum, weight_decay=protocol.weight_decay,
        batch_size=protocol.batch_size, dsa_strategy=protocol.dsa_strategy, temperature=protocol.temperature,
        dsa_params=DSAParams(crop_ratio=protocol.dsa_crop_ratio, align_corners=protocol.dsa_align_corners),
        reset_momentum_at_decay=protocol.reset_momentum_at_decay,
        precision=protocol.precision, channels_last=channels_last, compile=protocol.compile,
    )


class FinishedNets:
    """The accuracies of networks an interrupted evaluation already trained, kept in
    ``eval.partial-ID.json`` beside the set (main rank; ID names the set and protocol, so evaluations
    of other sets in the same folder running at the same time keep records of their own) and used only
    for the same set and protocol: a killed evaluation, evaluated again, loses at most the network it was training."""

    def __init__(self, folder: Path | None, identity: str, dist: Dist | None = None):
        self.path = folder / f"eval.partial-{identity[:12]}.json" if folder is not None else None
        self.identity, self.writes, self.done = identity, dist is None or dist.is_main, {}
        try:
            saved = json.loads(self.path.read_text()) if self.path is not None and self.path.exists() else {}
        except (OSError, ValueError):  # unreadable or damaged: those networks train again
            saved = {}
        if isinstance(saved, dict) and saved.get("identity") == identity and isinstance(saved.get("accuracies"), dict):
            self.done = saved["accuracies"]

    def get(self, desc: str, k: int) -> float | None:
        return self.done.get(f"{desc} {k}")

    def put(self, desc: str, k: int, accuracy: float) -> None:
        from ddcore.atomic import write_json

        from ddcore.errors import DDError

        self.done[f"{desc} {k}"] = accuracy
        if self.path is not None and self.writes:
            try:
                write_json(self.path, {"identity": self.identity, "accuracies": self.done})
            except (DDError, OSError) as exc:  # a convenience for resuming (a full disk, a read-only folder): go on without it
                LOG.warning("dd: warning: %s; finished networks are not recorded", exc)
                self.path = None

    def clear(self) -> None:
        if self.path is not None and self.writes:
            self.path.unlink(missing_ok=True)
            (self.path.parent / "eval.partial.json").unlink(missing_ok=True)  # the one record earlier versions kept, never read now


def train_and_test(images: list[torch.Tensor], targets: list[torch.Tensor], data: RealData, protocol: EvalOptions, lr: float,
                   device: torch.device, desc: str, quiet: bool, dist: Dist | None = None,
                   finished: FinishedNets | None = None) -> list[float]:
    """The protocol's K networks, network k on ``images[k]``: seeded init and batch order, trained
    (together when ``eval.batched`` says so), final-epoch test accuracy of each. Under torchrun
    each rank trains networks k ≡ rank (mod W) and the K accuracies are gathered on every rank.
    Networks ``finished`` already holds are not trained again."""
    import torch

    from ddcore.context import derive_seed
    from ddcore.models import build_model
    from ddcore.progress import progress_bar

    from .augment import Draws
    from .batched import batchable, train_classifier_batched
    from .collectives import all_gather_objects
    from .training import accuracy, data_rows, train_classifier

    ks = dist.mine(len(images)) if dist is not None else list(range(len(images)))
    nets, generators = [], []
    for k in ks:
        torch.manual_seed(derive_seed(protocol.seed, "eval-init", k))
        nets.append(build_model(protocol.model, data.image_shape[0], data.num_classes, data.image_shape[1:]))
        generators.append(Draws.seeded(derive_seed(protocol.seed, "eval-train", k), device))
    settings = settings_for(protocol, lr, device)
    test_rows = data_rows(data, device, "test")
    test = lambda net: accuracy(net, test_rows, data.test_labels, device, precision=protocol.precision)  # noqa: E731
    finished = finished or FinishedNets(None, "")
    accs = {k: finished.get(desc, k) for k in ks if finished.get(desc, k) is not None}
    todo = [i for i, k in enumerate(ks) if k not in accs]
    LOG.info("[eval] %s: training %d network(s) of %d for %d epochs", desc, len(todo), len(images), protocol.epochs)
    for k in accs:
        LOG.info("[eval] %s %d/%d: %.2f %% test accuracy (trained before the evaluation was interrupted)", desc, k + 1, len(images), 100 * accs[k])
    if batched(protocol, device) and len(todo) > 1 and batchable(nets[0]):
        bar = lambda it: progress_bar(it, desc=f"{desc}: {len(todo)} nets together", quiet=quiet)  # noqa: E731
        train_classifier_batched([nets[i] for i in todo], [images[ks[i]] for i in todo], [targets[ks[i]] for i in todo], settings,
                                 [generators[i] for i in todo], device, progress=bar)
        for i in todo:
            accs[ks[i]] = test(nets[i])
            finished.put(desc, ks[i], accs[ks[i]])
            LOG.info("[eval] %s %d/%d: %.2f %% test accuracy", desc, ks[i] + 1, len(images), 100 * accs[ks[i]])
    else:
        for i in todo:
            k = ks[i]
            bar = lambda it, k=k: progress_bar(it, desc=f"{desc} {k + 1}/{len(images)}", quiet=quiet)  # noqa: E731
            accs[k] = test(train_classifier(nets[i], images[k], targets[k], settings, generators[i], device, progress=bar))
            finished.put(desc, k, accs[k])
            LOG.info("[eval] %s %d/%d: %.2f %% test accuracy", desc, k + 1, len(images), 100 * accs[k])  # a line per network
    if dist is not None and dist.active:
        accs = {k: a for part in all_gather_objects(accs, dist) for k, a in part.items()}
    return [accs[k] for k in range(len(images))]


def batched(protocol: EvalOptions, device: torch.device) -> bool:
    """``eval.batched``, or when unset the faster way on this kind of device (bench/eval_speed.py)."""
    if protocol.batched is not None:
        return protocol.batched
    return device.type == "cuda" and not protocol.compile


def summarise(accs: list[float], **extra: Any) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(accs) * 100
    return {"accuracies": [round(float(v), 3) for v in a], "mean": round(float(a.mean()), 3), "std": round(float(a.std()), 3), **extra}


def random_subset(data: RealData, per_class: list[int], g: torch.Generator) -> torch.Tensor:
    """Indices of ``per_class[c]`` random training images of each class c."""
    import torch

    picks = []
    for c, n in enumerate(per_class):
        idx = data.class_indices(c)
        picks.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return torch.cat(picks)


def evaluate(dset: DistilledSet, data: RealData, protocol: EvalOptions, device: torch.device,
             baselines: tuple[str, ...] = ("random",), quiet: bool = False, dist: Dist | None = None,
             folder: Path | None = None) -> dict[str, Any]:
    """Run the protocol on ``dset`` and the chosen baselines; returns the JSON-able result. With
    ``folder``, finished networks are recorded there (``FinishedNets``) until the result is complete."""
    import torch

    from ddcore.context import derive_seed

    from .training import cpu_numerics

    started = time.perf_counter()
    learned = dset.lr is not None and protocol.use_learned_lr
    lr = float(dset.lr) if learned else protocol.lr
    per_class = dset.per_class_counts()
    images, targets = dset.images.detach().float(), dset.labels.detach()
    k_nets = protocol.num_nets
    finished = FinishedNets(folder, _identity(dset, data, protocol, lr), dist)
    accs = train_and_test([images] * k_nets, [targets] * k_nets, data, protocol, lr, device, "eval net", quiet, dist, finished)
    result: dict[str, Any] = {
        "protocol": {
            **protocol.model_dump(mode="json"),
            "lr_used": lr,
            "lr_source": "learned (from the set)" if learned else "eval.lr",
            "optimizer": "SGD with momentum, lr × 0.1 after half the epochs" + (" (momentum reset there)" if protocol.reset_momentum_at_decay else ""),
            "metric": "final-epoch test accuracy (%), mean ± population std over num_nets networks",
            "test_split": f"{len(data.test_labels)} real test images ({data.split})",
            "device": str(device),
            **cpu_numerics(),
            "nets_trained": "together (batched)" if batched(protocol, device) else "one after another",
            "processes": dist.world_size if dist is not None else 1,
        },
        "dataset": data.describe(),
        "distilled": summarise(accs, images=len(dset), per_class=per_class,
                               labels="soft" if dset.soft_labels is not None else "hard"),
    }
    if "random" in baselines:
        g = torch.Generator().manual_seed(derive_seed(protocol.seed, "random-baseline"))
        subsets = [random_subset(data, per_class, g) for _ in range(k_nets)]  # drawn up front: the same subsets either way
        r = train_and_test([data.images_of("train", i) for i in subsets], [data.train_labels[i] for i in subsets], data, protocol,
                           protocol.lr, device, "random real", quiet, dist, finished)
        result["random"] = summarise(r, images=int(sum(per_class)), per_class=per_class, labels="hard",
                                     what="a fresh random real subset per network, same images per class, lr = eval.lr")
    if "full" in baselines:
        from .training import data_rows

        f = train_and_test([data_rows(data, device)] * k_nets, [data.train_labels] * k_nets, data, protocol, protocol.lr, device,
                           "full data", quiet, dist, finished)
        result["full"] = summarise(f, images=len(data.train_labels), labels="hard", what="the whole training split, lr = eval.lr")
    result["seconds"] = round(time.perf_counter() - started, 1)
    finished.clear()
    warnings = [w for facts in dset.facts.values() if isinstance(facts, dict) for w in facts.get("warnings", [])]
    return {**result, "warnings": warnings} if warnings else result


def _identity(dset: DistilledSet, data: RealData, protocol: EvalOptions, lr: float) -> str:
    """What the networks' accuracies depend on: the set's tensors, the data, the protocol, the lr."""
    h = hashlib.sha256(json.dumps([protocol.model_dump(mode="json"), lr, data.fingerprint()], default=str).encode())
    for t in (dset.images, dset.labels):
        h.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def format_result(result: dict[str, Any]) -> str:
    """A few human lines: each row's mean ± std, then the protocol."""
    p = result["protocol"]
    rows = [("distilled", result["distilled"])] + [(b + (" real" if b == "random" else " data"), result[b]) for b in BASELINES if b in result]
    lines = [f"warning: {w}" for w in result.get("warnings", [])]
    for name, r in rows:
        lines.append(f"{name:12s} {r['mean']:6.2f} ± {r['std']:.2f} %   ({r['images']} images, {r['labels']} labels)")
    lines.append(
        f"protocol: {p['num_nets']} × {p['model']}, {p['epochs']} epochs, lr {p['lr_used']:g} ({p['lr_source']}), "
        f"DSA {p['dsa_strategy']}; {p['metric']}; {p['test_split']}"
    )
    return "\n".join(lines)


class FreshNets(Evaluator):
    name = "fresh_nets"
    description = "K networks trained from scratch on the set, final-epoch test accuracy, beside a random real subset"
    options = EvalOptions

    def evaluate(self, ctx: RunContext, dset: DistilledSet, data: RealData, options: EvalOptions,
                 baselines: tuple[str, ...]) -> dict[str, Any]:
        return evaluate(dset, data, options, ctx.device, baselines=baselines, quiet=ctx.quiet, dist=ctx.dist, folder=ctx.out_dir)

    def summary(self, result: dict[str, Any]) -> str:
        return format_result(result)


@hookimpl
def register_evaluators(register):
    register(FreshNets())
