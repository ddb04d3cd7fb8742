"""Images you can look at: a PNG grid per class, an overview grid, and an ImageFolder export."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import torch

from ddcore.atomic import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from ddcore.artifact import DistilledSet


@contextmanager
def removed_on_failure(folder: Path) -> Iterator[Path]:
    """Write into ``folder``; when it is new and the block fails (a full disk), remove it again, so no
    empty or half-filled folder is left behind (each file in it is written atomically)."""
    new = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if new:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def to_pixels(dset: DistilledSet, images: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised images -> uint8 N×H×W×C in [0, 255]."""
    x = dset.images if images is None else images
    mean = torch.tensor(dset.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(dset.std, dtype=x.dtype).view(1, -1, 1, 1)
    x = (x.detach().cpu() * std + mean).clamp(0, 1)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"


GRID_PAD = 2


def grid(pixels: torch.Tensor, columns: int, scale: int, pad: int = GRID_PAD) -> torch.Tensor:
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


def save_grid(pixels: torch.Tensor, path: Path, columns: int, *, header: str | dict[int, str] = "", row_labels=(),
              scale: int | None = None) -> Path:
    """Tile N×H×W×C uint8 images into a PNG with a title line and a label left of each row, so the
    picture reads without the code that drew it. ``header``: one title, or {column: title} for
    titles above given columns."""
    scale = scale or default_scale(pixels.shape[1])
    canvas = grid(pixels, columns, scale)
    if header or row_labels:
        titles = header if isinstance(header, dict) else {0: header} if header else {}
        pitch = (pixels.shape[1] * scale + GRID_PAD, pixels.shape[2] * scale + GRID_PAD)
        canvas = _with_labels(canvas, titles, [str(t)[:24] for t in row_labels], pitch)
    return save_png(canvas, path)


def save_before_after(before: DistilledSet, after: DistilledSet, indices: torch.Tensor, path: Path, header: str) -> Path:
    """The images at ``indices`` of ``before`` each beside the same position of ``after``: a labelled
    row per class that has any, its pairs side by side."""
    old, new = to_pixels(before), to_pixels(after)
    blank = torch.full_like(old[:1], 255)
    classes = after.classes[indices]
    present = [int(c) for c in classes.unique()]
    def pairs(c: int) -> torch.Tensor:  # before, after, a blank between pairs
        picked = indices[classes == c]
        return torch.stack([old[picked], new[picked], blank.expand(len(picked), -1, -1, -1)], 1).flatten(0, 1)[:-1]

    rows = [pairs(c) for c in present]
    width = max(len(r) for r in rows)
    tiles = torch.cat([torch.cat([r, blank.expand(width - len(r), -1, -1, -1)]) for r in rows])
    return save_grid(tiles, path, width, header=header, row_labels=[after.class_names[c] for c in present])


def _with_labels(canvas: torch.Tensor, titles: dict[int, str], row_labels: list[str], pitch: tuple[int, int]) -> torch.Tensor:
    """``canvas`` on white with each title above its tile column and each row's label to its left (PIL's default font)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))

    def extent(text: str) -> tuple[int, int]:
        return probe.textbbox((0, 0), text, font=font)[2:]

    left = max((extent(t)[0] for t in row_labels), default=-6) + 6
    top = max((extent(t)[1] for t in titles.values()), default=-6) + 6
    h, w, c = canvas.shape
    x_of = {col: left + GRID_PAD + col * pitch[1] for col in titles}
    width = max([w + left] + [x_of[col] + extent(t)[0] + GRID_PAD for col, t in titles.items()])
    out = torch.full((h + top, width, c), 255, dtype=torch.uint8)
    out[top:, left:left + w] = canvas
    img = Image.fromarray(out.numpy()[..., 0] if c == 1 else out.numpy())
    draw = ImageDraw.Draw(img)
    ink = 0 if c == 1 else (0, 0, 0)
    for col, text in titles.items():
        draw.text((x_of[col], 2), text, fill=ink, font=font)
    for r, text in enumerate(row_labels):
        draw.text((2, top + GRID_PAD + r * pitch[0] + (pitch[0] - GRID_PAD - extent(text)[1]) // 2), text, fill=ink, font=font)
    return torch.from_numpy(np.asarray(img).copy()).reshape(h + top, width, c)


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
    overview = save_grid(tiles, folder / "overview.png", width, scale=scale, row_labels=dset.class_names,
                         header=f"{len(dset)} images, a row per class" + (f" (first {max_per_class} shown)" if max(counts) > max_per_class else ""))
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
