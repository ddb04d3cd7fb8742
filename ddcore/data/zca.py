"""ZCA whitening of a dataset, as MTT/DATM/EDF use on CIFAR and Tiny-ImageNet.

Fitted on the (normalised) training split: with centred rows X (N × D), Σ = XᵀX / N = U S Uᵀ and
W = U diag(1 / √(S + ε)) Uᵀ; an image x becomes (x − μ) W. ε = 0.1 in the papers. The inverse
W⁻¹ = U diag(√(S + ε)) Uᵀ undoes it for display and for models with their own preprocessing.

Requested with a suffix on the dataset name, ``--dataset cifar10:~/data/cifar10?zca=0.1`` (or
``digits?zca=0.1``). The suffix travels with the artifact's dataset string, so ``dd eval`` and
``dd show`` whiten (or un-whiten) the same way without being told.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import torch

from ..errors import ConfigError

MAX_DIM = 3 * 64 * 64  # Tiny-ImageNet; a 128 px ImageNet image would need a 49k × 49k matrix


@dataclass
class ZCA:
    mean: torch.Tensor  # (D,)
    matrix: torch.Tensor  # (D, D)
    inverse: torch.Tensor  # (D, D)
    eps: float

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1) - self.mean.to(images)
        return (flat @ self.matrix.to(images)).view_as(images)

    def undo(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1) @ self.inverse.to(images) + self.mean.to(images)
        return flat.view_as(images)


def fit_zca(images: torch.Tensor, eps: float) -> ZCA:
    """The whitening of ``images`` (N×C×H×W), computed in float64 for a stable eigendecomposition."""
    dim = images[0].numel()
    if dim > MAX_DIM:
        raise ConfigError(f"ZCA on {tuple(images.shape[1:])} images needs a {dim}×{dim} matrix; use it for images of at most {MAX_DIM} values (CIFAR, Tiny-ImageNet, MNIST).")
    x = images.flatten(1).double()
    mean = x.mean(0)
    x = x - mean
    cov = x.T @ x / len(x)
    s, u = torch.linalg.eigh(cov)
    s = s.clamp_min(0) + eps
    w = (u * s.rsqrt()) @ u.T
    w_inv = (u * s.sqrt()) @ u.T
    return ZCA(mean.float(), w.float(), w_inv.float(), eps)


def split_zca(dataset: str) -> tuple[str, float | None]:
    """``"cifar10:~/c?zca=0.1"`` -> ``("cifar10:~/c", 0.1)``; other ``?`` settings stay."""
    base, sep, query = dataset.partition("?")
    if not sep:
        return dataset, None
    pairs = parse_qsl(query, keep_blank_values=True)
    rest = [(k, v) for k, v in pairs if k != "zca"]
    values = [v for k, v in pairs if k == "zca"]
    if not values:
        return dataset, None
    try:
        eps = float(values[-1])
    except ValueError:
        raise ConfigError(f"zca={values[-1]!r} must be a number (the whitening's ε, 0.1 in the papers).") from None
    if eps <= 0:
        raise ConfigError("zca= must be positive (the whitening's ε, 0.1 in the papers).")
    return (base + ("?" + urlencode(rest, safe=",:/~") if rest else "")), eps
