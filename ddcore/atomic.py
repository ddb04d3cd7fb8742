"""Write files so that a killed process or a full disk never leaves a truncated one behind.

A write goes to a temporary file beside its target and replaces it only once complete, so the
previous file survives any failure. A full disk (ENOSPC) becomes one sentence naming the file and
how much it needed; when the size is known beforehand it is refused before anything is written.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .errors import DDError

if TYPE_CHECKING:  # pragma: no cover
    import torch


class DiskFull(DDError):
    """No space left on the device while writing a file; the previous file is intact."""

    def __init__(self, path: Path, need: int, written: int = 0):
        free = shutil.disk_usage(path.parent).free if path.parent.exists() else 0
        needed = f"needs {_mb(need)}" if need else f"needed more than the {_mb(written)} written before the disk filled"
        super().__init__(f"no space left on the device for {path}: it {needed} and {_mb(free)} are free; "
                         f"free some space or write elsewhere (--out, --cache-dir), then run again (any previous {path.name} is unchanged).")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def is_disk_full(exc: BaseException | None) -> bool:
    """ENOSPC from Python (``OSError``) or from safetensors' writer (its message says "os error 28")."""
    while exc is not None:
        if getattr(exc, "errno", None) == errno.ENOSPC or "os error 28" in str(exc) or "No space left" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full(exc: BaseException) -> DDError | None:
    """One sentence for a full disk met outside ``atomic_path`` (a log line, a PNG, a plugin's own file)."""
    if isinstance(exc, DDError) or not is_disk_full(exc):
        return None
    where = next((f" for {e.filename}" for e in (exc, exc.__cause__, exc.__context__) if getattr(e, "filename", None)), "")
    return DDError(f"no space left on the device{where}; free some space or write elsewhere (--out, --cache-dir), then run again.")


@contextmanager
def atomic_path(path: str | os.PathLike, need: int = 0) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.
    ``need`` (bytes, when known) is checked against the free space before the block runs."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if need and shutil.disk_usage(path.parent).free < need:
            raise DiskFull(path, need)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DiskFull(path, need) if is_disk_full(exc) else exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFull(path, need, os.path.getsize(tmp) if os.path.exists(tmp) else 0) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    with atomic_path(path, need=len(text.encode())) as tmp:
        tmp.write_text(text)


def write_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """A safetensors file, written atomically after checking there is room for it."""
    from safetensors.torch import save_file

    need = sum(t.numel() * t.element_size() for t in tensors.values()) + sum(map(len, metadata.values())) + 8 * len(tensors) + 4096
    with atomic_path(path, need=need) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
