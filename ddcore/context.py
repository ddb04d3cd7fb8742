"""RunContext: everything a hook may use during a run, so hooks never read globals.

It carries the device, seeded generators, the cache, a progress/logging sink, each active
stage's options, the output folder, the checkpoint/resume facility and the run-scoped
loss-weighting calls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import torch

from .atomic import write_tensors
from .cache import Cache
from .distributed import Dist
from .errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import BaseModel

    from .artifact import DistilledSet
    from .components import MatchingTerms, PixelGradients
    from .realdata import RealData
    from .plugins import PluginManager


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present, else the CPU; ``cuda`` without a GPU is an error. Under
    torchrun on GPUs, ``auto`` and ``cuda`` mean this rank's GPU (``cuda:LOCAL_RANK``)."""
    from .distributed import device_for

    name = device_for(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but PyTorch sees no GPU; use --device auto or cpu.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu or cuda[:N].") from None


def derive_seed(seed: int, *parts: Any) -> int:
    """A 63-bit seed derived from the run seed and names, so streams never overlap by accident."""
    blob = json.dumps([seed, *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & ((1 << 63) - 1)


@dataclass
class RunContext:
    """Passed to every call hook and component.

    ``data`` is the run's real data (so call hooks can train helpers on it). ``state`` is a
    scratch dict of tensors a stage or its hooks keep between iterations (for example a map
    refreshed every N iterations); it is saved with every checkpoint and restored on resume, and
    cleared when the next stage starts. ``dist`` is this process's rank in a torchrun job (one
    process otherwise): only its main rank writes checkpoints and metrics.
    """

    device: torch.device
    seed: int
    out_dir: Path
    cache: Cache
    options: dict[str, BaseModel] = field(default_factory=dict)
    active_plugins: list[str] = field(default_factory=list)
    plugin_manager: PluginManager | None = None
    plugin: str = ""  # the plugin of the current stage (its messages go to logger ``ddcore.<plugin>``)
    stage: str = ""
    stage_index: int = 0
    quiet: bool = False
    data: RealData | None = None
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    dist: Dist = field(default_factory=Dist)
    resuming: bool = False  # ``dd run --resume``: stages continue from their checkpoints
    run_id: str = ""  # the run's identity, written into its checkpoints (``RunSpec.run_id``)
    _generators: dict[str, torch.Generator] = field(default_factory=dict, repr=False)
    _metrics: list[tuple[str, int, Any]] = field(default_factory=list, repr=False)

    # --- options and randomness -----------------------------------------------------------

    def options_for(self, stage: str) -> Any:
        """The validated options model of ``stage`` (defaults when the user set nothing)."""
        if stage not in self.options:
            raise KeyError(f"stage {stage!r} registered no options or is not in this run")
        return self.options[stage]

    def generator(self, purpose: str = "default", device: torch.device | str = "cpu") -> torch.Generator:
        """A generator seeded from the run seed, the current stage and ``purpose``.

        Its state is saved with every checkpoint of the stage and restored on resume, so a
        resumed run draws the same numbers as an uninterrupted one.
        """
        key = f"{self.stage_index}:{self.stage}:{purpose}:{torch.device(device).type}"
        if key not in self._generators:
            g = torch.Generator(device=device)
            g.manual_seed(derive_seed(self.seed, self.stage_index, self.stage, purpose))
            self._generators[key] = g
        return self._generators[key]

    # --- progress, logging, metrics -------------------------------------------------------

    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "") -> Iterator:
        """A tqdm bar on stderr (hidden when quiet or not a terminal)."""
        from .progress import progress_bar

        return progress_bar(iterable, total=total, desc=desc or self.stage, quiet=self.quiet)

    def log(self, message: str) -> None:
        """One line, through the plugin's logger: stderr (CLI) and the run's ``log.txt``."""
        from .logs import logger_for

        logger_for(self.plugin).info("[%s] %s", self.stage or "dd", message)

    def record(self, name: str, value: float | torch.Tensor, step: int) -> None:
        """A scalar (a loss curve point) for ``metrics/<stage>.jsonl``: kept in memory (a tensor is not
        even read back from the device) and written with the next checkpoint or when the stage ends,
        so a resumed stage never writes a point twice."""
        self._metrics.append((name, step, value))

    def flush_metrics(self) -> None:
        """Append the points recorded since the last flush to the stage's metrics file (main rank)."""
        if not self._metrics or not self.dist.is_main:
            self._metrics.clear()
            return
        values = torch.stack([torch.as_tensor(v, dtype=torch.float64).cpu() for _, _, v in self._metrics]).tolist()
        path = self.metrics_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.writelines(json.dumps({"name": n, "step": s, "value": v}) + "\n" for (n, s, _), v in zip(self._metrics, values))
        self._metrics.clear()

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / "metrics" / f"{self.stage_index:02d}-{self.stage}.jsonl"

    def rewind_metrics(self) -> None:
        """Before a stage runs again on resume: cut its metrics back to what its last checkpoint had
        seen (all of them without one), so no point is written twice."""
        from safetensors import safe_open

        path = self.metrics_path
        if not (self.resuming and self.dist.is_main and path.exists()):
            return
        keep = 0  # no checkpoint: the stage starts over
        if self.checkpoint_path.exists():
            try:
                with safe_open(str(self.checkpoint_path), framework="pt") as f:
                    keep = json.loads((f.metadata() or {})["info"])["metrics_bytes"]
            except Exception:  # unreadable (resume_state says so) or written before checkpoints counted: leave them
                return
        with open(path, "r+b") as f:
            f.truncate(min(keep, path.stat().st_size))

    # --- checkpoint / resume --------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoints" / f"{self.stage_index:02d}-{self.stage}.safetensors"

    def checkpoint(self, state: dict[str, torch.Tensor], step: int, meta: dict[str, Any] | None = None) -> None:
        """Save a stage's progress atomically; the stage's generators are saved with it."""
        self.flush_metrics()
        if not self.dist.is_main:
            return
        tensors = {f"state.{k}": v.detach().contiguous().cpu().clone() for k, v in state.items()}
        for key, g in self._generators.items():
            tensors[f"rng.{key}"] = g.get_state().clone()
        for key, value in self.state.items():
            tensors[f"ctxstate.{key}"] = value.detach().contiguous().cpu().clone()
        metrics = self.metrics_path.stat().st_size if self.metrics_path.exists() else 0
        info = {"step": step, "stage": self.stage, "meta": meta or {}, "run": self.run_id, "metrics_bytes": metrics}
        write_tensors(self.checkpoint_path, tensors, {"info": json.dumps(info)})

    def resume_state(self) -> tuple[dict[str, torch.Tensor], int, dict[str, Any]] | None:
        """The last checkpoint of this stage (state, step, meta), or None; restores generators. Only a
        resumed run (``dd run --resume``) reads one; every rank reads it before any writes the next."""
        from safetensors import safe_open

        path = self.checkpoint_path
        found = self.resuming and path.exists()
        try:
            if found:
                with safe_open(str(path), framework="pt") as f:
                    info = json.loads((f.metadata() or {})["info"])
                    tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:
            raise DataError(f"checkpoint {path} is unreadable ({exc}); delete it to restart the stage.") from None
        self.dist.barrier()
        if not found:
            return None
        if info.get("run", "") != self.run_id:
            raise DataError(f"checkpoint {path} was written by another run than the one {self.out_dir / 'run.json'} describes; "
                            "delete it to restart the stage.")
        for key, value in ((name[4:], v) for name, v in tensors.items() if name.startswith("rng.")):
            self._generators.setdefault(key, torch.Generator(device=key.rsplit(":", 1)[-1])).set_state(value)
        self.state.update({k[len("ctxstate."):]: v.to(self.device) for k, v in tensors.items() if k.startswith("ctxstate.")})
        state = {k[6:]: v for k, v in tensors.items() if k.startswith("state.")}
        return state, int(info["step"]), info.get("meta", {})

    # --- run-scoped hooks -----------------------------------------------------------------

    def weight_matching_terms(self, terms: MatchingTerms) -> torch.Tensor:
        """The product of every active plugin's weights for ``terms`` (ones when none answers)."""
        weights = torch.ones_like(terms.numerator)
        for w in self._call("weight_matching_terms", terms=terms):
            weights = weights * w
        return weights

    def matching_loss(self, terms: MatchingTerms) -> torch.Tensor:
        """``sum(w*numerator) / sum(w*denominator)`` with the active plugins' weights."""
        w = self.weight_matching_terms(terms)
        return (w * terms.numerator).sum() / (w * terms.denominator).sum().clamp_min(1e-12)

    def weight_pixel_gradients(self, grads: PixelGradients) -> torch.Tensor:
        """``grads.grad`` multiplied by every active plugin's pixel weights."""
        grad = grads.grad
        for w in self._call("weight_pixel_gradients", grads=grads):
            grad = grad * w
        return grad

    def _call(self, hook: str, **kwargs: Any) -> list[torch.Tensor]:
        if self.plugin_manager is None:
            return []
        return self.plugin_manager.call_in_order(hook, self.active_plugins, ctx=self, **kwargs)

    def score(self, name: str, pool: DistilledSet, data: RealData) -> DistilledSet:
        """Run the registered scorer ``name`` (active or not) and return the pool with its columns."""
        if self.plugin_manager is None or name not in self.plugin_manager.registry.scorer:
            raise KeyError(f"no scorer {name!r} is registered")
        return apply_scorer(self.plugin_manager.registry.scorer[name].value, self, pool, data)


def apply_scorer(scorer: Any, ctx: RunContext, pool: DistilledSet, data: RealData) -> DistilledSet:
    """Run a scorer and check it returned exactly its declared columns, one value per image."""
    from .errors import PluginError

    cols = scorer.score(ctx, pool, data)
    declared = set(scorer.columns)
    if set(cols) != declared:
        raise PluginError(scorer.name, f"scorer returned columns {sorted(cols)} but declares {sorted(declared)}.")
    for key, values in cols.items():
        if not isinstance(values, torch.Tensor) or values.shape != (len(pool),):
            raise PluginError(scorer.name, f"column {key!r} must be a tensor of shape ({len(pool)},).")
    return pool.with_columns(**cols)
