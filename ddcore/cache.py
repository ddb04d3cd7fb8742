"""Content-addressed cache for things a run trains once and reuses (experts, detectors, generators).

An entry is keyed by a hash of everything that determines it: a ``kind`` and a JSON-able
``spec`` (data fingerprint, model, hyper-parameters, seed, code version). Tensors are stored
with safetensors; folders (for example a diffusers ``save_pretrained``) are published
atomically by renaming a finished temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .atomic import atomic_path

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
        """The cached tensors, or None when absent."""
        from safetensors.torch import load_file

        path = self.file_for(kind, spec)
        return load_file(str(path)) if path.exists() else None

    def save(self, kind: str, spec: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
        from safetensors.torch import save_file

        path = self.file_for(kind, spec)
        clean = {k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}
        with atomic_path(path) as tmp:
            save_file(clean, str(tmp), metadata={"kind": kind, "spec": json.dumps(spec, sort_keys=True, default=str)})
        return path

    def get_or_create(
        self, kind: str, spec: dict[str, Any], build: Callable[[], dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """Load the entry, or build, save and return it."""
        found = self.load(kind, spec)
        if found is not None:
            return found
        tensors = build()
        self.save(kind, spec, tensors)
        return tensors

    def dir_for(self, kind: str, spec: dict[str, Any]) -> Path:
        """Where a folder entry lives once published (it may not exist yet)."""
        return self.root / kind / spec_key(kind, spec)

    def get_or_create_dir(self, kind: str, spec: dict[str, Any], build: Callable[[Path], None]) -> Path:
        """A folder entry: ``build(tmp_dir)`` fills a temporary folder that is then renamed."""
        final = self.dir_for(kind, spec)
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            build(tmp)
            (tmp / "spec.json").write_text(json.dumps({"kind": kind, "spec": spec}, indent=2, sort_keys=True, default=str))
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final
