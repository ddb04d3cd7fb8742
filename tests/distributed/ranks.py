"""Start W processes of one gloo job on this CPU, as torchrun would, but rendezvous through a file.

``run_ranks(world, tmp, "NAME", *args)`` runs ``worker.py NAME OUT args`` once per rank with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set and ``DD_DIST_INIT=file://…``; world 1 runs the same
function as a plain process (no process group). Each rank writes its result under OUT/rank<r>.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[2]


def run_ranks(world: int, tmp: Path, name: str, *args: str, timeout: int = 300,
              expect_ok: bool = True) -> list[subprocess.CompletedProcess]:
    out = tmp / f"{name}-w{world}"
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
        if world > 1:
            env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), DD_DIST_INIT=f"file://{out}/rendezvous",
                       DD_DIST_TIMEOUT="60")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), name, str(out), *args], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    done = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError(f"{name} on {world} ranks did not finish in {timeout} s") from None
        done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    if expect_ok:
        for rank, p in enumerate(done):
            assert p.returncode == 0, f"rank {rank} of {name} failed:\n{p.stderr[-3000:]}"
    return done


def result_dir(tmp: Path, name: str, world: int, rank: int = 0) -> Path:
    return tmp / f"{name}-w{world}" / f"rank{rank}"
