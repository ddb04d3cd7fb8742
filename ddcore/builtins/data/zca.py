"""ZCA whitening of a dataset, as MTT/DATM/EDF use on CIFAR and Tiny-ImageNet.

Fitted on the (normalised) training split: with centred rows X (N × D), Σ = XᵀX / N = U S Uᵀ and
W = U diag(1 / √(S + ε)) Uᵀ; an image x becomes (x − μ) W. ε = 0.1 in the papers. The inverse
W⁻¹ = U diag(√(S + ε)) Uᵀ undoes it for display and for models with their own preprocessing.

A built-in dataset transform: requested with a suffix on the dataset name, ``--dataset
cifar10:~/data/cifar10?zca=0.1`` (or ``digits?zca=0.1``). The fitted matrices are cached by the
training split's fingerprint, so a run, its evaluation and ``dd show`` fit them once.
"""

from __future__ import annotations

from dataclasses import dataclass
import torch

from ddcore.errors import ConfigError

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
        zca = fit_zca(data.train_images, eps)
        cache.save("zca", spec, {"mean": zca.mean, "matrix": zca.matrix, "inverse": zca.inverse})
    else:
        zca = ZCA(found["mean"], found["matrix"], found["inverse"], eps)
    return replace(data, train_images=zca.apply(data.train_images), test_images=zca.apply(data.test_images),
                   zca=zca, _fingerprint=None)
