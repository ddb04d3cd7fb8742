"""Images you can look at: a PNG grid per class, an overview grid, and an ImageFolder export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .atomic import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet


def to_pixels(dset: DistilledSet, images: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised images -> uint8 N×H×W×C in [0, 255]."""
    x = dset.images if images is None else images
    mean = torch.tensor(dset.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(dset.std, dtype=x.dtype).view(1, -1, 1, 1)
    x = (x.detach().cpu() * std + mean).clamp(0, 1)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"


def grid(pixels: torch.Tensor, columns: int, scale: int, pad: int = 2) -> torch.Tensor:
    """Tile N×H×W×C uint8 images into one image, upscaled by ``scale`` (nearest)."""
    n, h, w, c = pixels.shape
    if scale > 1:
        pixels = pixels.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
        h, w = h * scale, w * scale
    rows = max(1, -(-n // columns))
    canvas = torch.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, dtype=torch.uint8)
    for i in range(n):
        r, q = divmod(i, columns)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = pixels[i]
    return canvas


def save_png(array: torch.Tensor, path: Path) -> Path:
    from PIL import Image

    arr = array.numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def default_scale(height: int) -> int:
    return max(1, 64 // max(1, height))


def write_grids(dset: DistilledSet, folder: Path, scale: int | None = None, max_per_class: int = 50) -> list[Path]:
    """``overview.png`` (one row per class) plus ``class-<i>-<name>.png`` per class; returns paths."""
    pixels = to_pixels(dset)
    scale = scale or default_scale(pixels.shape[1])
    counts = dset.per_class_counts()
    width = max(1, min(max(counts), max_per_class))
    rows = []
    paths = []
    for c, name in enumerate(dset.class_names):
        idx = dset.indices_of_class(c)[:max_per_class]
        rows.append(idx)
        cols = min(10, max(1, len(idx)))
        if len(idx):
            paths.append(save_png(grid(pixels[idx], cols, scale), folder / f"class-{c:03d}-{_safe(name)}.png"))
    blank = torch.full_like(pixels[:1], 255)
    tiles = torch.cat([torch.cat([pixels[r], blank.repeat(width - len(r), 1, 1, 1)]) for r in rows])
    overview = save_png(grid(tiles, width, scale), folder / "overview.png")
    return [overview, *paths]


def export_imagefolder(dset: DistilledSet, folder: Path) -> int:
    """Every image as ``folder/<NNN>-<class>/<index>.png``.

    The numeric prefix makes torchvision's ImageFolder (which sorts folder names) give each
    class its original index.
    """
    pixels = to_pixels(dset)
    for i in range(len(dset)):
        c = int(dset.classes[i])
        save_png(pixels[i], folder / f"{c:03d}-{_safe(dset.class_names[c])}" / f"{i:05d}.png")
    return len(dset)
