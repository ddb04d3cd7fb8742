"""The real data every stage sees, and the spec a plugin registers to add a dataset.

Imports no torch at module level: plugins register datasets while ``dd --help`` runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass
class RealData:
    """A labelled image dataset, already normalised, with everything needed to undo that.

    Images are float32 N×C×H×W in normalised space ``(x - mean) / std`` with ``x`` in [0, 1];
    labels are int64 class indices into ``class_names``.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""
    split: str = ""  # how train/test were obtained, for datasets that ship no split
    zca: object | None = None  # a ddcore.data.zca.ZCA when the images are whitened
    _fingerprint: str | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]

    def class_indices(self, c: int) -> torch.Tensor:
        """Indices of the training images of class ``c``."""
        import torch

        return torch.nonzero(self.train_labels == c, as_tuple=False).flatten()

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixel space (clamped), for PNGs and for models with their own preprocessing."""
        import torch

        if self.zca is not None:
            images = self.zca.undo(images)
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        return (images * std + mean).clamp(0, 1)

    def normalize(self, images01: torch.Tensor) -> torch.Tensor:
        """From [0, 1] pixel space into this dataset's space (the inverse of ``denormalize``), for
        images a generator made."""
        import torch

        mean = torch.tensor(self.mean, dtype=images01.dtype, device=images01.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=images01.dtype, device=images01.device).view(1, -1, 1, 1)
        images = (images01 - mean) / std
        return self.zca.apply(images) if self.zca is not None else images

    def whitened(self, eps: float) -> RealData:
        """A copy whose images are ZCA-whitened (fitted on the training split; see ``zca.py``)."""
        from dataclasses import replace

        from .zca import fit_zca

        zca = fit_zca(self.train_images, eps)
        return replace(self, train_images=zca.apply(self.train_images), test_images=zca.apply(self.test_images),
                       zca=zca, _fingerprint=None)

    def fingerprint(self) -> str:
        """Content hash of the training split: keys caches of anything trained on it."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr((self.name, tuple(self.train_images.shape), self.class_names, self.mean, self.std)).encode())
            h.update(self.train_images.contiguous().numpy().tobytes())
            h.update(self.train_labels.contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def describe(self) -> dict:
        """Set-level facts recorded in every artifact and result built from this data."""
        return {
            "name": self.name,
            "source": self.source,
            "split": self.split,
            "num_train": int(self.train_images.shape[0]),
            "num_test": int(self.test_images.shape[0]),
            "image_shape": list(self.image_shape),
            "fingerprint": self.fingerprint(),
            **({"zca_eps": self.zca.eps} if self.zca is not None else {}),
        }


@dataclass
class DatasetSpec:
    """A dataset users name with ``--dataset NAME`` or ``--dataset NAME:ARGUMENT``.

    ``load(argument, options)`` returns a ``RealData``; ``argument`` is the text after the first
    colon (usually a folder) or None. ``options`` holds ``cache_dir`` (a ``pathlib.Path`` for
    decoded copies) and ``download`` (bool, only True when the user asked for it).
    ``help`` says in one line what the dataset is and how to point it at disk.
    """

    name: str
    load: Callable[[str | None, dict], RealData]
    help: str
    needs_argument: bool = False
    argument_help: str = ""
