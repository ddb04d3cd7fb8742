"""ZCA whitening of a dataset, as MTT/DATM/EDF use on CIFAR and Tiny-ImageNet.

Fitted on the (normalised) training split: with centred rows X (N × D), Σ = XᵀX / N = U S Uᵀ and
W = U diag(1 / √(S + ε)) Uᵀ; an image x becomes (x − μ) W. ε = 0.1 in the papers. The inverse
W⁻¹ = U diag(√(S + ε)) Uᵀ undoes it for display and for models with their own preprocessing.

A built-in dataset transform: requested with a suffix on the dataset name, ``--dataset
cifar10:~/data/cifar10?zca=0.1`` (or ``digits?zca=0.1``). The fitted matrices are cached by the
training split's fingerprint, so a run, its evaluation and ``dd show`` fit them once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from ddcore.errors import ConfigError

MAX_DIM = 3 * 64 * 64  # Tiny-ImageNet; a 128 px ImageNet image would need a 49k × 49k matrix


@dataclass
class ZCA:
    mean: torch.Tensor  # (D,)
    matrix: torch.Tensor  # (D, D)
    inverse: torch.Tensor  # (D, D)
    eps: float
    _copies: dict = field(default_factory=dict, repr=False, compare=False)

    def _like(self, name: str, images: torch.Tensor) -> torch.Tensor:
        """``mean``, ``matrix`` or ``inverse`` on ``images``' device and dtype, copied there once:
        a per-batch copy of a D×D matrix (600 MB at 64 px) would cost more than the batch."""
        key = (name, images.device, images.dtype)
        if key not in self._copies:
            self._copies[key] = getattr(self, name).to(images)
        return self._copies[key]

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1) - self._like("mean", images)
        return (flat @ self._like("matrix", images)).view_as(images)

    def undo(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1) @ self._like("inverse", images) + self._like("mean", images)
        return flat.view_as(images)


def fit_zca(images, eps: float, chunk: int = 4096) -> ZCA:
    """The whitening of ``images`` (an N×C×H×W tensor, or a function ``rows -> images``, with
    ``len``), in float64 for a stable eigendecomposition; summed a chunk of rows at a time."""
    rows = images if callable(images) else (lambda index, x=images: x[index])
    n = len(images)
    first = rows(torch.arange(1))
    dim = first[0].numel()
    if dim > MAX_DIM:
        raise ConfigError(f"ZCA on {tuple(first.shape[1:])} images needs a {dim}×{dim} matrix; use it for images of at most {MAX_DIM} values (CIFAR, Tiny-ImageNet, MNIST).")
    total, outer = torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dim, dtype=torch.float64)
    for start in range(0, n, chunk):
        x = rows(torch.arange(start, min(n, start + chunk))).flatten(1).double()
        total += x.sum(0)
        outer += x.T @ x
    mean = total / n
    cov = outer / n - torch.outer(mean, mean)
    s, u = torch.linalg.eigh(cov)
    s = s.clamp_min(0) + eps
    w = (u * s.rsqrt()) @ u.T
    w_inv = (u * s.sqrt()) @ u.T
    return ZCA(mean.float(), w.float(), w_inv.float(), eps)


def whiten(data, value: str, cache):
    """The ``zca`` transform: ``data`` with both splits whitened by ε = ``value`` (fit cached)."""
    from dataclasses import replace

    try:
        eps = float(value)
    except ValueError:
        raise ConfigError(f"zca={value!r} must be a number (the whitening's ε, 0.1 in the papers).") from None
    if eps <= 0:
        raise ConfigError("zca= must be positive (the whitening's ε, 0.1 in the papers).")
    spec = {"data": data.fingerprint(), "eps": eps}
    found = cache.load("zca", spec)
    if found is None:
        source = _Rows(data) if data.streamed() else data.train_images
        zca = fit_zca(source, eps)
        cache.save("zca", spec, {"mean": zca.mean, "matrix": zca.matrix, "inverse": zca.inverse})
    else:
        zca = ZCA(found["mean"], found["matrix"], found["inverse"], eps)
    if data.streamed():  # the pixels stay as they are; images_of whitens the rows it returns
        whitened = copy.copy(data)
        whitened.__dict__.pop("_materialized", None)
        whitened.zca, whitened._fingerprint = zca, None
        return whitened
    return replace(data, train_images=zca.apply(data.train_images), test_images=zca.apply(data.test_images),
                   zca=zca, _fingerprint=None)


class _Rows:
    """The normalised training rows of streamed data, for ``fit_zca``."""

    def __init__(self, data):
        self.data = data

    def __len__(self) -> int:
        return len(self.data.train_labels)

    def __call__(self, index):
        return self.data.images_of("train", index)
