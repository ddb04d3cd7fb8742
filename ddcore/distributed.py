"""One process of a ``torchrun`` job, or the only one: which rank it is and what it may do alone.

``torchrun --nproc-per-node N -m ddcore run ...`` starts N copies of ``dd run``; each reads
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from its environment and joins one ``torch.distributed``
group (NCCL on GPUs, gloo on CPUs), on ``cuda:LOCAL_RANK`` when on GPUs. Rank 0 alone writes the
run folder; work is split by index (``mine``); anything one rank builds for all (a cached
network, a decoded dataset) is built ``main_first``; ``pick_device`` gives each rank its GPU. Without those variables the world is one
process, nothing is initialised, and every helper is a no-op: today's path, bit for bit. The
collectives stages use (all-reduce, all-gather) are ``ddcore.builtins.collectives``.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

from .errors import DDError

TIMEOUT_S = float(os.environ.get("DD_DIST_TIMEOUT", 1800))  # a collective waits this long for a rank that fell silent


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""  # "" when not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def mine(self, n: int) -> list[int]:
        """The indices of ``range(n)`` this rank takes: i ≡ rank (mod world size)."""
        return list(range(self.rank, n, self.world_size))

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (building caches), then the others (reading them)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


_current: Dist | None = None


def distributed_context(device: str = "auto") -> Dist:
    """This process's place in the job, joining the process group on first use under torchrun."""
    global _current
    if _current is None and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        _current = Dist()
    if _current is not None:
        return _current
    import torch
    import torch.distributed as dist

    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device != "cpu" and torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method=os.environ.get("DD_DIST_INIT", "env://"),  # tests: file://
                                rank=rank, world_size=world, timeout=timedelta(seconds=TIMEOUT_S))
        atexit.register(_leave)  # a group left to the interpreter's exit can abort it
        signal.signal(signal.SIGTERM, _stopped)  # torchrun ends the others when one rank fails: say so, in one sentence
    _current = Dist(rank, world, local, backend)
    return _current


ENDING_WITH_ERROR: list[BaseException] = []  # the CLI adds its error: at exit, leave without waiting for the others


def _leave() -> None:
    """At exit: wait (briefly) until every rank is leaving, then destroy the group, so no rank tears
    down a connection whose pending work another still holds (gloo aborts the process then)."""
    import torch.distributed as dist

    if dist.is_initialized():
        with suppress(Exception):  # another rank is gone already: nothing left to wait for
            if not ENDING_WITH_ERROR and not hasattr(sys, "last_value"):  # (set by an uncaught exception's traceback)
                dist.monitored_barrier(timeout=timedelta(seconds=30)) if dist.get_backend() == "gloo" else dist.barrier()
        dist.destroy_process_group()


PEER_STOPPED = "another process of this torchrun job stopped, so this one cannot go on; the first error printed says why."


class PeerStopped(BaseException):
    """torchrun stopped this process because another one failed. A BaseException, like
    KeyboardInterrupt, so no ``except Exception`` on the way up mistakes it for a damaged file."""


def _stopped(signum, frame) -> None:
    raise PeerStopped(PEER_STOPPED)


# How a collective (a RuntimeError, never an OSError) reports a lost process: any gloo transport error
# (its connection "closed" or "reset by peer", depending on who tore it down first), NCCL's, a time-out.
LOST_PEER_MARKS = ("gloo/transport", "by peer", "Broken pipe", "NCCL", "imed out")


def peer_failed(exc: BaseException) -> DDError | None:
    """One sentence when ``exc`` is a collective that lost another process of this torchrun job."""
    if _current is None or not _current.active or isinstance(exc, OSError) or not any(k in str(exc) for k in LOST_PEER_MARKS):
        return None
    return DDError(PEER_STOPPED)


def device_for(name: str) -> str:
    """Each rank's device: ``cuda:LOCAL_RANK`` when this torchrun job runs on GPUs."""
    d = _current
    if d is not None and d.active and d.backend == "nccl" and name in ("auto", "cuda"):
        return f"cuda:{d.local_rank}"
    return name
