"""DistilledSet: the pool that flows between stages, and its safetensors file.

One ``.safetensors`` file holds the tensors (images, classes, optional soft labels, optional
learned learning rate, numeric per-image columns) and, in its string metadata, a JSON manifest
with the set-level facts (dataset, class names, normalisation, IPC, seeds, every stage's
resolved options, plugin names and versions, ddcore version) and any text columns. Loading
validates everything and never unpickles.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .atomic import write_tensors
from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .realdata import RealData

FORMAT = "ddcore.distilled/1"
ARTIFACT_NAME = "distilled.safetensors"


@dataclass
class DistilledSet:
    """Synthetic (or selected) images with their labels, per-image columns and set-level facts.

    ``images``: float32 N×C×H×W in the dataset's normalised space.
    ``classes``: int64 (N,), the class each image stands for (what IPC counts).
    ``soft_labels``: optional float32 (N, K) logits used as training targets instead of classes.
    ``lr``: optional learned learning rate for training on this set.
    ``columns``: per-image metadata: 1-D tensors of length N, or lists of N strings.
    ``facts``: JSON-able set-level manifest.
    """

    images: torch.Tensor
    classes: torch.Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    soft_labels: torch.Tensor | None = None
    lr: float | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # --- shape facts ----------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labels(self) -> torch.Tensor:
        """Training targets: soft logits when present, else the hard classes."""
        return self.soft_labels if self.soft_labels is not None else self.classes

    def per_class_counts(self) -> list[int]:
        return torch.bincount(self.classes, minlength=self.num_classes).tolist()

    def indices_of_class(self, c: int) -> torch.Tensor:
        return torch.nonzero(self.classes == c, as_tuple=False).flatten()

    def validate(self) -> None:
        """Raise DataError when tensors and facts disagree."""
        n = self.images.shape[0] if self.images.dim() == 4 else -1
        if self.images.dim() != 4:
            raise DataError(f"images must be N×C×H×W, got shape {tuple(self.images.shape)}.")
        if self.classes.shape != (n,) or self.classes.dtype != torch.int64:
            raise DataError(f"classes must be int64 of shape ({n},), got {self.classes.dtype} {tuple(self.classes.shape)}.")
        if n and (int(self.classes.min()) < 0 or int(self.classes.max()) >= self.num_classes):
            raise DataError(f"classes must lie in [0, {self.num_classes}), found {int(self.classes.min())}..{int(self.classes.max())}.")
        if self.soft_labels is not None and self.soft_labels.shape != (n, self.num_classes):
            raise DataError(f"soft labels must have shape ({n}, {self.num_classes}), got {tuple(self.soft_labels.shape)}.")
        c = self.images.shape[1]
        if len(self.mean) != c or len(self.std) != c:
            raise DataError(f"mean/std must have one value per channel ({c}).")
        for key, col in self.columns.items():
            if len(col) != n:
                raise DataError(f"column {key!r} has {len(col)} values for {n} images.")

    @classmethod
    def from_real(cls, data: RealData, images: torch.Tensor, classes: torch.Tensor, **kwargs: Any) -> DistilledSet:
        """A set in ``data``'s classes and normalisation (what a synthesizer returns)."""
        return cls(images=images, classes=classes.long(), class_names=list(data.class_names), mean=tuple(data.mean),
                   std=tuple(data.std), **kwargs)

    # --- derived sets ---------------------------------------------------------------------

    def subset(self, index: torch.Tensor | list[int]) -> DistilledSet:
        """The images at ``index`` (in that order), with their labels and columns."""
        idx = torch.as_tensor(index, dtype=torch.long)
        cols = {k: (v[idx] if isinstance(v, torch.Tensor) else [v[i] for i in idx.tolist()]) for k, v in self.columns.items()}
        return replace(self, images=self.images[idx], classes=self.classes[idx], columns=cols, facts=dict(self.facts),
                       soft_labels=None if self.soft_labels is None else self.soft_labels[idx])

    def with_columns(self, **columns: Any) -> DistilledSet:
        """A copy with columns added or replaced."""
        return replace(self, columns={**self.columns, **columns}, facts=dict(self.facts))

    # --- file format ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically to ``path`` (a ``.safetensors`` file or a run folder)."""
        path = resolve_artifact_path(path, must_exist=False)
        tensors: dict[str, torch.Tensor] = {
            "images": self.images.detach().float().contiguous().cpu(),
            "classes": self.classes.contiguous().cpu(),
        }
        if self.soft_labels is not None:
            tensors["soft_labels"] = self.soft_labels.detach().float().contiguous().cpu()
        text_columns = {}
        for key, col in self.columns.items():
            if isinstance(col, torch.Tensor):
                tensors[f"column.{key}"] = col.detach().contiguous().cpu().clone()
            else:
                text_columns[key] = [str(v) for v in col]
        manifest = {
            "format": FORMAT,
            "class_names": list(self.class_names),
            "mean": list(self.mean),
            "std": list(self.std),
            "lr": self.lr,
            "text_columns": text_columns,
            "facts": self.facts,
        }
        write_tensors(path, tensors, {"format": FORMAT, "manifest": json.dumps(manifest, default=str)})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DistilledSet:
        """Read and validate an artifact; any problem is one DataError sentence."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        path = resolve_artifact_path(path, must_exist=True)
        hint = "re-create it with `dd run`"
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise DataError(f"{path} is not a readable safetensors file ({_short(exc)}); it is corrupt or truncated, {hint}.") from None
        if meta.get("format") != FORMAT:
            raise DataError(f"{path} is a safetensors file but not a ddcore artifact (format {meta.get('format')!r}, expected {FORMAT!r}).")
        try:
            manifest = json.loads(meta["manifest"])
            columns: dict[str, Any] = {k[len("column."):]: v for k, v in tensors.items() if k.startswith("column.")}
            columns.update(manifest.get("text_columns", {}))
            return cls(
                images=tensors["images"],
                classes=tensors["classes"],
                soft_labels=tensors.get("soft_labels"),
                class_names=list(manifest["class_names"]),
                mean=tuple(manifest["mean"]),
                std=tuple(manifest["std"]),
                lr=manifest.get("lr"),
                columns=columns,
                facts=manifest.get("facts", {}),
            )
        except DataError as exc:
            raise DataError(f"{path} is inconsistent: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path} has a damaged manifest ({_short(exc)}); {hint}.") from None

    @staticmethod
    def read_facts(path: str | os.PathLike) -> dict[str, Any]:
        """An artifact's set-level facts without reading its tensors (to compare runs cheaply); {} when unreadable."""
        from safetensors.torch import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            return json.loads(meta.get("manifest", "{}")).get("facts", {})
        except Exception:  # a damaged file is simply not reusable; DistilledSet.load reports it where it matters
            return {}

    def manifest(self) -> dict[str, Any]:
        """The human-readable summary written as manifest.json beside the artifact."""
        return {
            "format": FORMAT,
            "images": list(self.images.shape),
            "per_class": dict(zip(self.class_names, self.per_class_counts())),
            "labels": "soft" if self.soft_labels is not None else "hard",
            "lr": self.lr,
            "columns": sorted(self.columns),
            "class_names": list(self.class_names),
            "mean": list(self.mean),
            "std": list(self.std),
            **self.facts,
        }


def resolve_artifact_path(path: str | os.PathLike, must_exist: bool) -> Path:
    """Accept a run folder or a file; return the ``.safetensors`` path."""
    p = Path(path).expanduser()
    if p.is_dir() or (not p.suffix and not must_exist):
        p = p / ARTIFACT_NAME
    if must_exist and not p.exists():
        raise DataError(f"no distilled set at {p}; give a run folder made by `dd run` or a .safetensors file.")
    return p


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
