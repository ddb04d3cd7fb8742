"""A run folder belongs to one process at a time.

``.lock`` in the folder holds its owner's pid under an ``flock`` that the kernel drops when the
process ends, however it ends (kill -9 included): a lock whose flock is free is stale, and taking
it over is safe. The lock file is never deleted (not even by ``--overwrite``), so two runs started
at the same moment contend for one inode and exactly one proceeds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ConfigError

LOCK = ".lock"
BOOKKEEPING = {LOCK, "run.json", "log.txt"}  # what a run that failed before any stage output leaves


@contextmanager
def owning(out: Path, resume: bool, overwrite: bool) -> Iterator[str]:
    """Hold ``out`` for the block: refuse a folder another live process writes, or one holding an
    earlier run's results unless ``resume`` or ``overwrite``; empty it for a fresh run. Yields a
    line for the run's log when it took over the lock of a process that was killed ("" if not)."""
    import fcntl


    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _owner(handle)
        handle.close()
        raise ConfigError(f"{out} is being written by {owner}; wait for it to finish or stop it, or choose another --out.") from None
    try:
        previous = _owner(handle)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        results = sorted(p.name for p in out.iterdir() if p.name not in BOOKKEEPING)
        if not resume and results and not overwrite:
            raise ConfigError(f"{out} already holds files; choose another --out, add --overwrite, or continue it with --resume {out}.")
        took_over = f"{previous} stopped without releasing {out}; this process takes it over" if previous != "nobody" else ""
        if not resume:
            for p in out.iterdir():
                if p.name != LOCK:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        yield took_over
    finally:
        handle.seek(0)
        handle.truncate()  # ended, not killed: nobody to name as a stale owner
        handle.close()  # releases the flock


def _owner(handle) -> str:
    handle.seek(0)
    try:
        o = json.loads(handle.read() or "null")
        return f"process {o['pid']} on {o['host']} (since {o['since']})" if o else "nobody"
    except (ValueError, KeyError, TypeError):
        return "an unknown process"
