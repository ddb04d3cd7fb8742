"""A run folder belongs to one process at a time, and a run reads back only what it wrote itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ddcore.artifact import DistilledSet

TOY = ["run", "--plugins", "toy", "--ipc", "2", "--no-eval", "-q", "-o", "toy.iterations=12", "-o", "toy.checkpoint_every=3"]
SLOW = [*TOY, "-o", "toy.sleep=0.25"]


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ddcore", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert path.exists(), f"{path} never appeared: {proc.stderr.read() if proc.poll() is not None else 'still running'}"


def killed_after_a_checkpoint(out: Path, *args: str) -> int:
    proc = start(*SLOW, *args, "--out", str(out))
    wait_for(out / "checkpoints" / "00-toy.safetensors", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "distilled.safetensors").exists()
    return proc.pid


def test_overwrite_of_a_folder_another_run_is_writing_is_refused_and_that_run_finishes_intact(tmp_path, dd):
    out, release = tmp_path / "run", tmp_path / "release"
    first = start(*TOY, "--seed", "0", "--out", str(out), env={"DD_TOY_HOLD": str(release)})  # held after its first checkpoint
    wait_for(out / "checkpoints" / "00-toy.safetensors", first)
    second = dd(*TOY, "--seed", "1", "--overwrite", "--out", str(out))
    release.touch()
    assert second.returncode != 0
    assert f"is being written by process {first.pid} on " in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert DistilledSet.load(out).facts["seed"] == 0 and "resumed" not in (out / "log.txt").read_text()
    dd(*TOY, "--seed", "0", "--out", str(tmp_path / "alone"), check=True)
    assert DistilledSet.load(out).images.equal(DistilledSet.load(tmp_path / "alone").images)


def test_two_runs_started_on_one_folder_at_the_same_moment_exactly_one_proceeds(tmp_path):
    out, release = tmp_path / "run", tmp_path / "release"
    procs = [start(*TOY, "--seed", str(seed), "--out", str(out), env={"DD_TOY_HOLD": str(release)}) for seed in (0, 1)]
    deadline = time.time() + 120  # the winner holds at its first checkpoint until the loser has ended
    while not any(p.poll() is not None for p in procs) and time.time() < deadline:
        time.sleep(0.05)
    release.touch()
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    assert sorted(rc == 0 for rc, _ in results) == [False, True], results
    winner = next(i for i, (rc, _) in enumerate(results) if rc == 0)
    loser_says = results[1 - winner][1]
    assert "is being written by process" in loser_says or "already holds files" in loser_says, loser_says
    assert DistilledSet.load(out).facts["seed"] == winner


def test_a_killed_runs_lock_is_named_and_taken_over_by_resume(tmp_path, dd):
    out = tmp_path / "run"
    pid = killed_after_a_checkpoint(out)
    assert json.loads((out / ".lock").read_text())["pid"] == pid  # what a stale lock looks like
    dd("run", "--resume", str(out), check=True)
    log = (out / "log.txt").read_text()
    assert f"process {pid} on " in log and "stopped without releasing" in log and "resumed at step" in log
    assert (out / ".lock").read_text() == ""  # released: nobody to name next time


def test_a_fresh_run_over_a_killed_one_never_loads_its_checkpoints(tmp_path, dd):
    out = tmp_path / "run"
    killed_after_a_checkpoint(out, "--seed", "0")
    dd(*TOY, "--seed", "1", "--overwrite", "--out", str(out), check=True)
    dd(*TOY, "--seed", "1", "--out", str(tmp_path / "alone"), check=True)
    assert "resumed" not in (out / "log.txt").read_text()
    assert DistilledSet.load(out).images.equal(DistilledSet.load(tmp_path / "alone").images)


def test_resume_refuses_a_checkpoint_another_run_wrote(tmp_path, dd):
    a, b = tmp_path / "a", tmp_path / "b"
    killed_after_a_checkpoint(a, "--seed", "0")
    killed_after_a_checkpoint(b, "--seed", "0")  # the same settings: only the run's identity differs
    (b / "checkpoints" / "00-toy.safetensors").write_bytes((a / "checkpoints" / "00-toy.safetensors").read_bytes())
    proc = dd("run", "--resume", str(b))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and last.startswith("dd: error: checkpoint ") and "was written by another run than the one" in last


def test_a_run_that_failed_before_any_stage_output_leaves_its_folder_reusable(tmp_path, dd):
    out = tmp_path / "run"
    bad = dd("run", "--plugins", "real", "--ipc", "500", "--no-eval", "--out", str(out))  # more than a class holds
    assert bad.returncode != 0 and (out / "run.json").exists()
    good = dd("run", "--plugins", "real", "--ipc", "2", "--no-eval", "--out", str(out))  # the corrected command, no --overwrite
    assert good.returncode == 0, good.stderr
    assert json.loads((out / "run.json").read_text())["ipc"] == 2


def test_resumed_metrics_hold_every_step_once_with_the_uninterrupted_values(tmp_path, dd):
    out = tmp_path / "run"
    killed_after_a_checkpoint(out)
    with open(out / "metrics" / "00-toy.jsonl", "a") as f:  # points flushed after the checkpoint, then the kill
        f.write(json.dumps({"name": "loss", "step": 99, "value": 0.0}) + "\n" + '{"name": "lo')
    dd("run", "--resume", str(out), check=True)
    dd(*TOY, "--out", str(tmp_path / "whole"), check=True)
    read = lambda d: [json.loads(line) for line in (d / "metrics" / "00-toy.jsonl").read_text().splitlines()]  # noqa: E731
    assert read(out) == read(tmp_path / "whole") and [p["step"] for p in read(out)] == list(range(12))
