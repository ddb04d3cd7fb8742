"""One process builds a cache entry at a time.

Two runs that need the same expert or classifier (two bench rows in parallel, two terminals)
would otherwise both train it. A claim is an ``flock`` on ``<key>.lock`` beside the entry: a
process that needs an entry another one is building waits for it and then loads it, or, asked
not to wait, builds other entries first. The kernel drops the lock when its holder ends, however
it ends, so a killed build never blocks the next one; the lock files stay (they are empty).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from ddcore.cache import Cache


@contextmanager
def claimed(cache: Cache, kind: str, spec: dict[str, Any], wait: bool = True,
            log: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold the build claim of entry ``(kind, spec)`` for the block. Yields True once held; with
    ``wait=False`` yields False at once (holding nothing) when another process holds it. ``log``
    hears one line when this process has to wait."""
    import fcntl

    path = cache.dir_for(kind, spec).with_suffix(".lock")  # <kind>/<key>.lock: the entry's own key
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            if log is not None:
                log(f"another process is building the {kind} entry {path.stem}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield True
