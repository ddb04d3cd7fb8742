"""``cifar10:PATH`` and ``cifar100:PATH``: torchvision's on-disk format, read without unpickling code.

The batches of the official "python version" are pickles of dicts of numpy arrays. They are read
with an unpickler that can only build numpy arrays, lists, dicts, strings and numbers, so a file
swapped for a malicious pickle cannot run code. ``--download`` (only when asked) fetches the
official archive with torchvision's checked downloader.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ddcore.errors import ConfigError, DataError
from ddcore.realdata import RealData
from .split import make_real_data

LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "labels": "labels",
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "labels": "fine_labels",
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
    },
}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    """Builds only numpy arrays and plain containers; anything else is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(path: Path) -> dict:
    """One CIFAR batch file as a dict with str keys."""
    try:
        with open(path, "rb") as f:
            raw = _ArraysOnly(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path} is missing; the folder is not a complete CIFAR download (add --download to fetch it).") from None
    except Exception as exc:
        raise DataError(f"{path} is not a CIFAR batch ({exc}); replace it with the official file.") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path} is not a CIFAR batch (it holds a {type(raw).__name__}).")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _download(kind: str, root: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    spec = LAYOUT[kind]
    download_and_extract_archive(spec["url"], str(root), md5=spec["md5"])


def load_cifar(kind: str, argument: str | None, options: dict | None = None) -> RealData:
    """CIFAR-10/100 with the official train/test split."""
    if not argument:
        raise ConfigError(f"{kind} needs a folder: --dataset {kind}:PATH (the folder holding {LAYOUT[kind]['folder']}/).")
    options = options or {}
    spec = LAYOUT[kind]
    root = Path(argument).expanduser()
    folder = root / spec["folder"] if (root / spec["folder"]).is_dir() else root
    if not (folder / spec["train"][0]).exists():
        if not options.get("download"):
            raise DataError(f"{root} holds no {spec['folder']}/; point {kind}:PATH at torchvision's CIFAR folder or add --download.")
        _download(kind, root)
        folder = root / spec["folder"]
    meta_file, meta_key = spec["meta"]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in read_batch(folder / meta_file)[meta_key]]
    splits = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for fname in spec[split]:
            batch = read_batch(folder / fname)
            try:
                xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[spec["labels"]], dtype=np.int64))
            except (KeyError, ValueError) as exc:
                raise DataError(f"{folder / fname} is not a CIFAR batch (missing or malformed {exc}).") from None
        splits[split] = (torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)))
    return make_real_data(kind, *splits["train"], *splits["test"], names, f"{kind} python batches at {folder}", "the official train/test split")
