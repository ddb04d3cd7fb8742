"""Content-addressed cache for things a run trains once and reuses (experts, detectors, generators).

An entry is keyed by a hash of everything that determines it: a ``kind`` and a JSON-able
``spec`` (data fingerprint, model, hyper-parameters, seed, code version). Tensors are stored
with safetensors; folders (for example a diffusers ``save_pretrained``) are published
atomically by renaming a finished temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    import torch


def default_cache_dir() -> Path:
    """``$DD_CACHE_DIR``, else ``$XDG_CACHE_HOME/ddcore``, else ``~/.cache/ddcore``."""
    if os.environ.get("DD_CACHE_DIR"):
        return Path(os.environ["DD_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ddcore"


def spec_key(kind: str, spec: dict[str, Any]) -> str:
    """Stable hash of ``(kind, spec)``; key order does not matter."""
    blob = json.dumps({"kind": kind, "spec": spec}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class Cache:
    """A folder of entries ``<kind>/<key>.safetensors`` and ``<kind>/<key>/``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root else default_cache_dir()

    def file_for(self, kind: str, spec: dict[str, Any]) -> Path:
        return self.root / kind / f"{spec_key(kind, spec)}.safetensors"

    def load(self, kind: str, spec: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        """The cached tensors, or None when absent or damaged (then set aside, to be rebuilt)."""
        path = self.file_for(kind, spec)
        return self._read(path) if path.exists() else None

    def checked_file(self, kind: str, spec: dict[str, Any]) -> Path | None:
        """The entry's file once its checksum matches (checked once per process), for readers that
        open it lazily; None when absent or damaged (then set aside, to be rebuilt)."""
        path = self.file_for(kind, spec)
        if not path.exists() or (_VERIFIED.get(path) != _stamp(path) and self._read(path) is None):
            return None
        return path

    def _read(self, path: Path) -> dict[str, torch.Tensor] | None:
        """A file entry's tensors after checking them against the checksum they were saved with."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                recorded, tensors = (f.metadata() or {}).get("sha256"), {k: f.get_tensor(k) for k in f.keys()}
            if recorded is not None and recorded != _digest(tensors):
                raise ValueError("its checksum does not match its contents")
        except MemoryError:
            raise
        except Exception as exc:
            return self._set_aside(path, exc)
        _VERIFIED[path] = _stamp(path)
        return tensors

    def save(self, kind: str, spec: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
        from .atomic import write_tensors

        path = self.file_for(kind, spec)
        clean = {k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}
        write_tensors(path, clean, {"kind": kind, "spec": json.dumps(spec, sort_keys=True, default=str), "sha256": _digest(clean)})
        _VERIFIED[path] = _stamp(path)
        return path

    def _set_aside(self, path: Path, why: BaseException) -> None:
        """Move a damaged entry out of the way (kept for inspection) and say so."""
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.time_ns() % 10**9}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:  # another rank of a torchrun job set it aside first
            return None
        logging.getLogger("ddcore").warning("dd: warning: cache entry %s is damaged (%s); moved it to %s and building it again",
                                            path, str(why).splitlines()[0][:200], aside.name)
        return None

    def get_or_create(self, kind: str, spec: dict[str, Any], build: Callable[[], dict[str, torch.Tensor]],
                      log: Callable[[str], None] | None = None) -> dict[str, torch.Tensor]:
        """Load the entry, or build, save and return it; built by one process at a time, as
        ``get_or_create_dir``: another one that needs it meanwhile waits, then loads it."""
        from .builtins.cache_claims import claimed

        found = self.load(kind, spec)
        if found is None:
            with claimed(self, kind, spec, log=log):
                found = self.load(kind, spec)  # built by the process this one waited for
                if found is None:
                    found = build()
                    self.save(kind, spec, found)
        return found

    def dir_for(self, kind: str, spec: dict[str, Any]) -> Path:
        """Where a folder entry lives once published (it may not exist yet)."""
        return self.root / kind / spec_key(kind, spec)

    def get_or_create_dir(self, kind: str, spec: dict[str, Any], build: Callable[[Path], None],
                          log: Callable[[str], None] | None = None) -> Path:
        """A folder entry: ``build(tmp_dir)`` fills a temporary folder that is then renamed. One
        process builds it at a time (``ddcore.claimed``): another that needs it meanwhile waits
        (``log`` hears that once), then takes the finished folder."""
        from .builtins.cache_claims import claimed

        final = self.dir_for(kind, spec)
        if self.checked_dir(kind, spec) is not None:
            return final
        with claimed(self, kind, spec, log=log):
            if self.checked_dir(kind, spec) is not None:  # built by the process this one waited for
                return final
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
            try:
                build(tmp)
                sizes = {str(f.relative_to(tmp)): f.stat().st_size for f in sorted(tmp.rglob("*")) if f.is_file()}
                (tmp / "spec.json").write_text(json.dumps({"kind": kind, "spec": spec, "sizes": sizes}, indent=2, sort_keys=True, default=str))
                os.replace(tmp, final)
            except Exception as exc:
                from .atomic import DiskFull, is_disk_full

                if is_disk_full(exc):
                    raise DiskFull(final, 0, sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())) from None
                raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return final

    def checked_dir(self, kind: str, spec: dict[str, Any]) -> Path | None:
        """The folder entry when every file it was published with has its recorded size; None when
        absent or damaged (then set aside, to be rebuilt)."""
        folder = self.dir_for(kind, spec)
        if not folder.is_dir():
            return None
        try:
            sizes = json.loads((folder / "spec.json").read_text()).get("sizes", {})
            wrong = [name for name, size in sizes.items() if (folder / name).stat().st_size != size]
            if wrong:
                raise ValueError(f"{wrong[0]} does not have its recorded size")
        except (OSError, ValueError) as exc:
            return self._set_aside(folder, exc)
        return folder


_VERIFIED: dict[Path, tuple[int, int]] = {}  # entries this process checked or wrote -> their size and mtime then


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    import torch

    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
