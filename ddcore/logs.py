"""One ``logging`` tree: ``ddcore`` for the core, ``ddcore.<plugin>`` for each plugin's messages.

Library code only logs; it never prints. The CLI puts a stderr handler on the tree (``-q`` shows
warnings only, ``-v`` debug lines too) and every run adds a handler for its ``log.txt`` while it
works. Without the CLI, Python's default shows warnings and errors only.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = "ddcore"


def logger_for(plugin: str | None = None) -> logging.Logger:
    """``ddcore`` itself, or the child logger of one plugin (``ddcore.edf``)."""
    return logging.getLogger(ROOT if not plugin or plugin == ROOT else f"{ROOT}.{plugin}")


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_cli(quiet: bool = False, verbose: bool = False) -> None:
    """The ``dd`` command's stderr handler (one per process, replaced on a second call)."""
    root = logging.getLogger(ROOT)
    for h in [h for h in root.handlers if getattr(h, "_dd_cli", False)]:
        root.removeHandler(h)
    handler = _Stderr()
    handler._dd_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(rank_prefix() + "%(message)s"))
    handler.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def rank_prefix() -> str:
    """``[rank R] `` on the stderr lines of a torchrun job's other ranks (rank 0 writes log.txt)."""
    rank = os.environ.get("RANK", "0")
    return f"[rank {rank}] " if rank != "0" and int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""


@contextmanager
def run_log(out_dir: Path | None) -> Iterator[None]:
    """Append every ``ddcore`` message (info and up) to ``out_dir/log.txt`` for the block (None: nowhere)."""
    if out_dir is None:
        yield
        return
    root = logging.getLogger(ROOT)
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "log.txt", mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    handler.setLevel(logging.INFO)
    handler.handleError = lambda record: None  # a full disk loses log lines, not the run: its next real write says so
    previous = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous)
