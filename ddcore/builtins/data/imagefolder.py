"""``imagefolder:PATH``: a folder of class sub-folders, as torchvision's ImageFolder reads it.

``PATH/train/<class>/*`` is the training split; ``PATH/val/`` (or ``PATH/test/``) with the same
class folders is the test split. Optional settings follow a ``?`` like a URL query:

    imagefolder:~/data/imagenette?size=64&classes=n01440764,n02102040

``size=N`` resizes the shorter side to N and centre-crops N×N (no aspect squashing);
``classes=a,b`` keeps those class folders, in that order (class index = position).
Decoded pixels are cached (safetensors) keyed by the files' names, sizes and times.

Tiny-ImageNet's own layout is read as it is unpacked: ``train/<wnid>/images/*.JPEG`` (an
``images/`` folder inside a class folder is looked into) and ``val/images/*`` with
``val/val_annotations.txt`` naming each validation image's class.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs

import torch

from ddcore.errors import ConfigError, DataError
from ddcore.realdata import RealData
from .split import make_real_data

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def parse_argument(argument: str) -> tuple[Path, dict[str, str]]:
    """``"PATH?size=64&classes=a,b"`` -> (path, {"size": "64", "classes": "a,b"})."""
    path, _, query = argument.partition("?")
    settings = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(settings) - {"size", "classes", "channels"}
    if unknown:
        raise ConfigError(f"imagefolder setting {sorted(unknown)[0]!r} is unknown; use size=N, classes=a,b or channels=1|3.")
    return Path(path).expanduser(), settings


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())


def _decode(path: Path, size: int | None, channels: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if size:
                w, h = img.size
                scale = size / min(w, h)
                img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
                w, h = img.size
                left, top = (w - size) // 2, (h - size) // 2
                img = img.crop((left, top, left + size, top + size))
            arr = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
            return arr.view(img.size[1], img.size[0], channels).permute(2, 0, 1).clone()
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}); remove it or fix the folder.") from None


CHUNK_ROWS = 256


def write_uint8(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """A safetensors file of uint8 tensors written a chunk of rows at a time (``save_file`` would build
    the whole file in memory first, doubling a large folder's footprint). Atomic."""
    from ddcore.atomic import atomic_path

    header, offset = {}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": "U8", "shape": list(t.shape), "data_offsets": [offset, offset + t.numel()]}
        offset += t.numel()
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for t in tensors.values():
            flat = t.contiguous().view(len(t), -1)
            for start in range(0, len(t), CHUNK_ROWS):
                f.write(flat[start:start + CHUNK_ROWS].numpy().tobytes())


def read_uint8(path: Path, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file read a chunk of rows at a time into tensors made once (the file
    is never held in memory, nor mapped, whole)."""
    from safetensors import SafetensorError, safe_open

    out = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {n: f.get_slice(n).get_shape() for n in names}
        for name, shape in shapes.items():
            out[name] = torch.empty(shape, dtype=torch.uint8)
            for start in range(0, shape[0], CHUNK_ROWS):
                with safe_open(str(path), framework="pt") as f:
                    out[name][start:start + CHUNK_ROWS] = f.get_slice(name)[start:start + CHUNK_ROWS]
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DataError(f"the decoded-image cache {path} is unreadable ({exc}); delete it to decode the folder again.") from None
    return out


def _class_files(folder: Path, cls: str) -> list[Path]:
    """The images of class folder ``folder/cls`` (or of its ``images/``, as Tiny-ImageNet's train/ has them)."""
    d = folder / cls
    d = d / "images" if (d / "images").is_dir() else d
    return _image_files(d) if d.is_dir() else []


def _annotated_files(folder: Path, wanted: list[str]) -> list[tuple[int, Path]] | None:
    """(class, file) from Tiny-ImageNet's ``val_annotations.txt`` (file, wnid, box per line), or None
    when ``folder`` has no such file."""
    notes = folder / "val_annotations.txt"
    if not notes.is_file():
        return None
    index = {c: i for i, c in enumerate(wanted)}
    rows = [line.split("\t") for line in notes.read_text().splitlines() if line.strip()]
    bad = [r for r in rows if len(r) < 2]
    if bad:
        raise DataError(f"{notes} line {rows.index(bad[0]) + 1} does not read FILE<TAB>CLASS; fix or remove the file.")
    missing = [r[0] for r in rows if r[1] in index and not (folder / "images" / r[0]).is_file()]
    if missing:
        raise DataError(f"{notes} names {folder / 'images' / missing[0]}, which does not exist ({len(missing)} such files).")
    return sorted(((index[r[1]], folder / "images" / r[0]) for r in rows if r[1] in index), key=lambda item: (item[0], item[1].name))


def _split_folder(root: Path, names: tuple[str, ...]) -> Path:
    for n in names:
        if (root / n).is_dir():
            return root / n
    raise DataError(f"{root} has no {' or '.join(n + '/' for n in names)} folder; an imagefolder dataset needs PATH/train/<class>/ and PATH/val/<class>/ (or test/).")


def _decode_all(files: list[Path], size: int | None, channels: int, root: Path, desc: str) -> torch.Tensor:
    """Every file decoded into one preallocated uint8 N×C×H×W tensor (no list of copies, no float)."""
    from ddcore.progress import progress_bar

    out = None
    for i, f in enumerate(progress_bar(files, desc=desc)):
        x = _decode(f, size, channels)
        if out is None:
            out = torch.empty((len(files), *x.shape), dtype=torch.uint8)
        elif x.shape != out.shape[1:]:
            raise DataError(f"images under {root} have different sizes ({tuple(out.shape[1:])} and {tuple(x.shape)}); "
                            f"add ?size=N to resize them, e.g. imagefolder:{root}?size=64.")
        out[i] = x
    return out


def load_imagefolder(argument: str | None, options: dict | None = None, name: str = "imagefolder",
                     classes: list[str] | None = None, size: int | None = None) -> RealData:
    """Read (or reuse the cached decode of) an ImageFolder tree; see the module docstring."""
    if not argument:
        raise ConfigError("imagefolder needs a folder: --dataset imagefolder:PATH.")
    options = options or {}
    root, settings = parse_argument(argument)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; point imagefolder:PATH at a folder holding train/ and val/.")
    try:
        size = int(settings["size"]) if "size" in settings else size
        channels = int(settings.get("channels", 3))
    except ValueError:
        raise ConfigError("imagefolder size= and channels= must be whole numbers.") from None
    if channels not in (1, 3):
        raise ConfigError("imagefolder channels= must be 1 or 3.")
    train_dir = _split_folder(root, ("train",))
    test_dir = _split_folder(root, ("val", "test"))
    available = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    wanted = [c for c in settings["classes"].split(",") if c] if settings.get("classes") else (classes or available)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise DataError(f"{train_dir} has no class folder {missing[0]!r} ({len(missing)} of the requested classes are missing).")
    if not wanted:
        raise DataError(f"{train_dir} holds no class folders.")
    files = {split: [(c, f) for c, cls in enumerate(wanted) for f in _class_files(folder, cls)]
             for split, folder in (("train", train_dir), ("test", test_dir))}
    annotated = _annotated_files(test_dir, wanted)  # Tiny-ImageNet's val/ holds images/ and their classes in a file
    if annotated is not None:
        files["test"] = annotated
    for split, items in files.items():
        if not items:
            raise DataError(f"the {split} split under {root} holds no images of the requested classes.")
    key = hashlib.sha256(json.dumps({
        "root": str(root.resolve()), "size": size, "channels": channels, "classes": wanted,
        "files": {s: [(c, str(f), f.stat().st_size, f.stat().st_mtime_ns) for c, f in items] for s, items in files.items()},
    }).encode()).hexdigest()[:24]
    cache_dir = options.get("cache_dir")
    cached = Path(cache_dir) / "imagefolder" / f"{key}.safetensors" if cache_dir else None
    if cached is not None and cached.exists():
        pixels = read_uint8(cached, ("train", "test"))
    else:
        pixels = {}
        for split, items in files.items():
            pixels[split] = _decode_all([f for _, f in items], size, channels, root, desc=f"decoding {split} images")
        if cached is not None:
            write_uint8(cached, pixels)
    labels = {s: torch.tensor([c for c, _ in items], dtype=torch.long) for s, items in files.items()}
    if pixels["train"].shape[1:] != pixels["test"].shape[1:]:
        raise DataError(f"train and {test_dir.name} images under {root} differ in size; add ?size=N to resize both.")
    return make_real_data(
        name, pixels["train"], labels["train"], pixels["test"], labels["test"],
        wanted, f"image folder {root}", f"the folders train/ and {test_dir.name}/",
    )
