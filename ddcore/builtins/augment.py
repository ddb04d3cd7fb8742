"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021), written from the paper.

Every transform is differentiable with respect to the images, so synthesizers can augment
inside an unrolled optimisation and the evaluation protocol uses the same augmentation.
Parameters are drawn per image from an explicit ``torch.Generator`` (or a ``Draws`` pair): two
calls with generators in the same state apply identical transforms (the "siamese" property), and
resumed runs repeat the same draws.

Families (defaults as in the DSA paper): ``color`` (brightness ±0.5, saturation ×[0, 2],
contrast ×[0.5, 1.5]), ``crop`` (translate by up to 12.5 % with zero padding; ``crop_ratio``), ``cutout`` (zero
a square half the image side), ``flip`` (horizontal, p = 0.5), ``scale`` (×[1/1.2, 1.2] per
axis), ``rotate`` (±15°). ``mode="single"`` applies one randomly chosen family per call (the
papers' default), ``mode="all"`` applies them in sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass(frozen=True)
class DSAParams:
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5
    crop_ratio: float = 0.125
    cutout_ratio: float = 0.5
    flip_prob: float = 0.5
    scale_ratio: float = 1.2
    rotate_degrees: float = 15.0
    align_corners: bool = False  # scale/rotate sampling grid; the MTT/DATM/EDF code uses True


class Draws:
    """Where the random numbers of augmentation and batch order come from, as a pair of generators.

    ``host`` (a CPU generator) makes the choices Python branches on (which DSA family a batch gets);
    ``device`` draws per-image parameters and batch orders where the images live, so a GPU loop
    never copies random numbers from the host (each copy would wait for the GPU). On a CPU both are
    one generator, and the draws are exactly those of a plain ``torch.Generator``.
    """

    def __init__(self, host: torch.Generator, device: torch.Generator | None = None):
        self.host, self.device = host, device if device is not None else host

    @classmethod
    def seeded(cls, seed: int, device: torch.device | str = "cpu") -> "Draws":
        host = torch.Generator().manual_seed(seed)
        if torch.device(device).type == "cpu":
            return cls(host)
        return cls(host, torch.Generator(device=device).manual_seed((seed + 1) % 2**63))

    def permutation(self, n: int) -> torch.Tensor:
        """A random order of ``n`` items, on the device generator's device."""
        return torch.randperm(n, generator=self.device, device=self.device.device)

    def get_state(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.host.get_state(), None if self.device is self.host else self.device.get_state()

    def replay(self, state: tuple[torch.Tensor, torch.Tensor | None]) -> "Draws":
        """A new pair in ``state`` (from ``get_state``): it repeats the draws made from there."""
        host = torch.Generator()
        host.set_state(state[0])
        if state[1] is None:
            return Draws(host)
        device = torch.Generator(device=self.device.device)
        device.set_state(state[1])
        return Draws(host, device)


def as_draws(generator: torch.Generator | Draws | None) -> Draws | None:
    """A plain generator serves as both halves (how every caller before ``Draws`` drew)."""
    return generator if generator is None or isinstance(generator, Draws) else Draws(generator)


def _u(n: int, g: torch.Generator | Draws | None, device) -> torch.Tensor:
    """n uniform draws for ``device``, from the per-image half of ``g``."""
    if g is None:
        return torch.rand(n).to(device)
    source = as_draws(g).device
    return torch.rand(n, generator=source, device=source.device).to(device)


def _color(x, p, g):
    n = x.shape[0]
    x = x + (_u(n, g, x.device) - 0.5).view(n, 1, 1, 1) * p.brightness
    m = x.mean(dim=1, keepdim=True)
    x = (x - m) * (_u(n, g, x.device) * p.saturation).view(n, 1, 1, 1) + m
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (_u(n, g, x.device) + p.contrast).view(n, 1, 1, 1) + m


def _affine(x, theta, align_corners: bool):
    grid = F.affine_grid(theta, list(x.shape), align_corners=align_corners)
    return F.grid_sample(x, grid, align_corners=align_corners, padding_mode="zeros")


def _scale(x, p, g):
    n = x.shape[0]
    lo = 1.0 / p.scale_ratio
    sx = _u(n, g, x.device) * (p.scale_ratio - lo) + lo
    sy = _u(n, g, x.device) * (p.scale_ratio - lo) + lo
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    return _affine(x, theta, p.align_corners)


def _rotate(x, p, g):
    n = x.shape[0]
    a = (_u(n, g, x.device) - 0.5) * 2 * p.rotate_degrees * math.pi / 180
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = -torch.sin(a), torch.cos(a)
    return _affine(x, theta, p.align_corners)


def _flip(x, p, g):
    keep = (_u(x.shape[0], g, x.device) >= p.flip_prob).view(-1, 1, 1, 1)
    return torch.where(keep, x, x.flip(3))


def _shift_index(size: int, shift: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image source index for a translation, and the mask of positions that fall inside."""
    src = torch.arange(size, device=device).view(1, -1) - shift.view(-1, 1)
    inside = (src >= 0) & (src < size)
    return src.clamp(0, size - 1), inside


def _crop(x, p, g):
    n, c, h, w = x.shape
    sh, sw = max(1, int(h * p.crop_ratio + 0.5)), max(1, int(w * p.crop_ratio + 0.5))
    dy = (_u(n, g, x.device) * (2 * sh + 1)).floor().long() - sh
    dx = (_u(n, g, x.device) * (2 * sw + 1)).floor().long() - sw
    iy, my = _shift_index(h, dy, x.device)
    ix, mx = _shift_index(w, dx, x.device)
    rows = torch.gather(x, 2, iy.view(n, 1, h, 1).expand(n, c, h, w))
    out = torch.gather(rows, 3, ix.view(n, 1, 1, w).expand(n, c, h, w))
    mask = (my.view(n, 1, h, 1) & mx.view(n, 1, 1, w)).to(x.dtype)
    return out * mask


def _cutout(x, p, g):
    n, _, h, w = x.shape
    ch, cw = max(1, int(h * p.cutout_ratio + 0.5)), max(1, int(w * p.cutout_ratio + 0.5))
    cy = (_u(n, g, x.device) * (h + 1 - ch % 2)).floor().long()
    cx = (_u(n, g, x.device) * (w + 1 - cw % 2)).floor().long()
    ys = torch.arange(h, device=x.device).view(1, h)
    xs = torch.arange(w, device=x.device).view(1, w)
    in_y = (ys >= (cy - ch // 2).view(-1, 1)) & (ys < (cy - ch // 2 + ch).view(-1, 1))
    in_x = (xs >= (cx - cw // 2).view(-1, 1)) & (xs < (cx - cw // 2 + cw).view(-1, 1))
    hole = in_y.view(n, 1, h, 1) & in_x.view(n, 1, 1, w)
    return x * (~hole).to(x.dtype)


FAMILIES = {"color": _color, "crop": _crop, "cutout": _cutout, "flip": _flip, "scale": _scale, "rotate": _rotate}


def parse_strategy(strategy: str) -> list[str]:
    """``"color_crop"`` -> ``["color", "crop"]``; unknown names are a ValueError."""
    if strategy in ("", "none"):
        return []
    names = strategy.split("_")
    bad = [n for n in names if n not in FAMILIES]
    if bad:
        raise ValueError(f"unknown DSA family {bad[0]!r}; choose from {', '.join(FAMILIES)}")
    return names


def dsa(x: torch.Tensor, generator: torch.Generator | Draws | None = None, strategy: str = DEFAULT_STRATEGY,
        mode: str = "single", params: DSAParams = DSAParams()) -> torch.Tensor:
    """Augment a batch N×C×H×W; differentiable in ``x``. See the module docstring."""
    names = parse_strategy(strategy)
    if not names:
        return x
    draws = as_draws(generator)
    if mode == "single":
        host = draws.host if draws is not None else None
        pick = int(torch.randint(len(names), (1,), generator=host, device=host.device if host is not None else "cpu"))
        names = [names[pick]]
    for name in names:
        x = FAMILIES[name](x, params, draws)
    return x
