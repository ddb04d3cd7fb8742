"""The real data every stage sees, the specs a plugin registers to add a dataset or a transform
of any dataset, and the one place ``--dataset`` text becomes loaded data.

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
    """A labelled image dataset with everything needed to normalise it and to undo that.

    ``train_images`` / ``test_images`` are float32 N×C×H×W in normalised space ``(x - mean) / std``
    (then whitened when ``zca`` is set) with ``x`` in [0, 1]; labels are int64 class indices into
    ``class_names``. A dataset may instead hand over its pixels in their source dtype
    (``train_pixels``/``test_pixels``, e.g. uint8, with ``x = pixels / pixel_divisor``) and pass None
    for the images: then nothing float is stored; ``images_of(split, index, device)`` normalises
    (and whitens) just the rows asked for, on the device, and reading ``train_images`` builds the
    whole float split once, for code that wants it.
    """

    name: str
    train_images: torch.Tensor | None
    train_labels: torch.Tensor
    test_images: torch.Tensor | None
    test_labels: torch.Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""
    split: str = ""  # how train/test were obtained, for datasets that ship no split
    zca: object | None = None  # whitening with ``apply``/``undo`` (the built-in zca transform)
    train_pixels: torch.Tensor | None = field(default=None, repr=False)
    test_pixels: torch.Tensor | None = field(default=None, repr=False)
    pixel_divisor: float = 255.0
    _fingerprint: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            if self.__dict__[f"{split}_images"] is None:
                if self.__dict__[f"{split}_pixels"] is None:
                    raise ValueError(f"RealData needs {split}_images or {split}_pixels")
                del self.__dict__[f"{split}_images"]  # built on first read (__getattr__)

    def __getattr__(self, name: str):
        if name in ("train_images", "test_images") and f"{name[:-7]}_pixels" in self.__dict__:
            cache = self.__dict__.setdefault("_materialized", {})
            if name not in cache:
                cache[name] = self.images_of(name[:-7])
            return cache[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def images_of(self, split: str, index=None, device=None) -> torch.Tensor:
        """Normalised (and whitened) images of ``split``, all or the rows at ``index``, on ``device``."""
        import torch

        stored = self.__dict__.get(f"{split}_images")
        if stored is not None:
            x = stored if index is None else stored[index]
            return x.to(device) if device is not None else x
        raw = self.__dict__[f"{split}_pixels"]
        raw = raw if index is None else raw[index.to(raw.device) if hasattr(index, "to") else index]
        x = (raw.to(device) if device is not None else raw).float().div_(self.pixel_divisor)  # one float buffer, in place
        x.sub_(torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)).div_(torch.tensor(self.std, device=x.device).view(1, -1, 1, 1))
        return self.zca.apply(x) if self.zca is not None else x

    def streamed(self) -> bool:
        """True when the training split is kept as source pixels (read it with ``images_of``)."""
        return "train_images" not in self.__dict__

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        stored = self.__dict__.get("train_images")
        return tuple((stored if stored is not None else self.train_pixels).shape[1:])  # type: ignore[return-value]

    def class_indices(self, c: int) -> torch.Tensor:
        """Indices of the training images of class ``c``."""
        import torch

        return torch.nonzero(self.train_labels == c, as_tuple=False).flatten()

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixel space (clamped), for PNGs and for models with their own preprocessing."""
        if self.zca is not None:
            images = self.zca.undo(images)
        mean, std = self._stats(images)
        return (images * std + mean).clamp(0, 1)

    def normalize(self, images01: torch.Tensor) -> torch.Tensor:
        """From [0, 1] pixel space into this dataset's space (the inverse of ``denormalize``), for
        images a generator made."""
        mean, std = self._stats(images01)
        images = (images01 - mean) / std
        return self.zca.apply(images) if self.zca is not None else images

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std as 1×C×1×1 tensors of ``like``'s dtype and device."""
        import torch

        return tuple(torch.tensor(v, dtype=like.dtype, device=like.device).view(1, -1, 1, 1) for v in (self.mean, self.std))

    def fingerprint(self) -> str:
        """Content hash of the training split: keys caches of anything trained on it."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr((self.name, self.image_shape, len(self.train_labels), self.class_names, self.mean, self.std)).encode())
            if self.streamed():
                h.update(repr((str(self.train_pixels.dtype), self.pixel_divisor, getattr(self.zca, "eps", None))).encode())
                h.update(self.train_pixels.contiguous().numpy().tobytes())
            else:
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
            "num_train": len(self.train_labels),
            "num_test": len(self.test_labels),
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


@dataclass
class DatasetTransform:
    """A transform of any dataset, requested with ``?NAME=VALUE`` after ``--dataset``.

    ``apply(data, value, cache)`` returns the transformed ``RealData`` (``value`` is the text
    after ``=``; ``cache`` a ``ddcore.Cache`` for anything fitted, keyed by ``data.fingerprint()``).
    The suffix travels with the artifact's dataset string, so ``dd eval`` and ``dd show``
    transform (or undo) the same way without being told.
    """

    name: str
    apply: Callable[[RealData, str, object], RealData]
    help: str


def parse_dataset(text: str, transforms: dict | tuple = ()) -> tuple[str, str | None, list[tuple[str, str]]]:
    """``"cifar10:~/c?zca=0.1&size=32"`` -> ``("cifar10", "~/c?size=32", [("zca", "0.1")])``:
    the name, the argument (with the query keys no transform claims) and the transforms asked for."""
    from urllib.parse import parse_qsl, urlencode

    base, sep, query = text.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True) if sep else []
    asked = [(k, v) for k, v in pairs if k in transforms]
    rest = [(k, v) for k, v in pairs if k not in transforms]
    base += "?" + urlencode(rest, safe=",:/~") if rest else ""
    name, colon, arg = base.partition(":")
    return name, (arg if colon else None), asked


def check_dataset(text: str, registry) -> None:
    """One sentence before any compute when ``--dataset`` names no known dataset or lacks its folder."""
    import difflib

    from .errors import ConfigError

    name, arg, _ = parse_dataset(text, registry.dataset_transforms)
    if name not in registry.datasets:
        hint = difflib.get_close_matches(name, list(registry.datasets), n=3)
        raise ConfigError(
            f"unknown dataset {name!r}" + (f" (did you mean {', '.join(map(repr, hint))}?)" if hint else "")
            + f"; known: {', '.join(sorted(registry.datasets))}. `dd datasets` says how to point each at disk."
        )
    spec = registry.datasets[name].value
    if spec.needs_argument and not (arg or "").partition("?")[0]:
        raise ConfigError(f"dataset {name!r} needs a location: --dataset {name}:{spec.argument_help or 'PATH'}.")


def load_real_data(text: str, registry, cache, download: bool = False) -> RealData:
    """``--dataset`` text -> the loaded data with its transforms applied (``?zca=0.1``)."""
    check_dataset(text, registry)
    name, arg, asked = parse_dataset(text, registry.dataset_transforms)
    data = registry.datasets[name].value.load(arg, {"cache_dir": cache.root / "datasets", "download": download})
    for key, value in asked:
        data = registry.dataset_transforms[key].value.apply(data, value, cache)
    return data


def open_dataset(text: str, cache_dir: str | None = None, download: bool = False) -> RealData:
    """``--dataset`` text -> the loaded data, with ``dd run``'s one-sentence errors (for plugin commands)."""
    from .cache import Cache
    from .plugins import get_plugin_manager

    return load_real_data(text, get_plugin_manager().registry, Cache(cache_dir), download)
