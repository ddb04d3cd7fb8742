"""Killing a run mid-way and resuming gives the same artifact as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ddcore.artifact import DistilledSet

TOY = ("--plugins", "toy,random", "--ipc", "2", "--pool-factor", "2", "--no-eval", "-q",
       "-o", "toy.iterations=12", "-o", "toy.checkpoint_every=3", "-o", "toy.sleep=0.2")


def dd_cmd(*args):
    return [sys.executable, "-m", "ddcore", *args]


def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path, dd):
    full = tmp_path / "full"
    dd("run", *TOY, "--out", str(full), check=True)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(dd_cmd("run", *TOY, "--out", str(cut)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = cut / "checkpoints" / "00-toy.safetensors"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert checkpoint.exists(), "the run never checkpointed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / "distilled.safetensors").exists(), "killed too late to test resuming"

    dd("run", "--resume", str(cut), check=True)
    a = DistilledSet.load(full)
    b = DistilledSet.load(cut)
    assert a.images.equal(b.images) and a.classes.equal(b.classes)
    assert a.facts == b.facts and a.columns.keys() == b.columns.keys()
    assert all(b.columns[k].equal(v) if hasattr(v, "equal") else b.columns[k] == v for k, v in a.columns.items())
    log = (cut / "log.txt").read_text()
    assert "resumed at step" in log
