"""``torchrun --standalone --nproc-per-node 2 -m ddcore run ...`` end to end, against the same command in
one process: the same set (to float rounding), one artifact, manifest, log and eval.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from ddcore.artifact import DistilledSet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_settings import DETECTOR_REFINE_TINY, EDF_TINY  # noqa: E402

# torch installs torchrun beside the interpreter; a missing one is a broken install, so no skip
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun") or "torchrun"
EVAL = ["-o", "eval.num_nets=2", "-o", "eval.epochs=2", "-o", "eval.model=convnet-w8"]


def options(stage: str, values: dict) -> list[str]:
    return [arg for k, v in values.items() for arg in ("-o", f"{stage}.{k}={str(v).lower() if isinstance(v, bool) else v}")]


def dd(world: int, out: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``dd run ARGS --out OUT`` in one process, or under torchrun with ``world`` processes (2 threads in all)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, 2 // world))}
    head = [TORCHRUN, "--standalone", f"--nproc-per-node={world}", "-m", "ddcore"] if world > 1 else [sys.executable, "-m", "ddcore"]
    proc = subprocess.run([*head, "run", *args, "--out", str(out)], capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, f"{world} process(es) failed:\n{proc.stderr[-4000:]}"
    return proc


def same_set(a: Path, b: Path) -> tuple[DistilledSet, DistilledSet]:
    one, two = DistilledSet.load(a / "distilled.safetensors"), DistilledSet.load(b / "distilled.safetensors")
    assert torch.equal(one.classes, two.classes)
    assert torch.allclose(one.images, two.images, rtol=1e-5, atol=1e-5), (one.images - two.images).abs().max()
    if one.soft_labels is not None:
        assert torch.allclose(one.soft_labels, two.soft_labels, rtol=1e-5, atol=1e-5)
    return one, two


def test_edf_split_minibatches_on_two_processes_write_one_run_like_one_process(tmp_path):
    args = ["--dataset", "digits", "--ipc", "1", "--plugins", "edf", *options("edf", {**EDF_TINY, "iterations": 4}), *EVAL]
    dd(1, tmp_path / "one", *args)
    proc = dd(2, tmp_path / "two", *args)
    _, two = same_set(tmp_path / "one", tmp_path / "two")
    out = tmp_path / "two"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert two.facts["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert two.facts["edf"]["parallel"] == "each minibatch split over 2 processes"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["distributed"]["world_size"] == 2
    log = (out / "log.txt").read_text()
    assert "rank 0 of 2 (gloo)" in log and "[rank 1]" not in log and log.count("wrote ") == 1
    assert "[rank 1]" in proc.stderr  # the other rank speaks on stderr, marked
    evals = [json.loads((d / "eval.json").read_text()) for d in (tmp_path / "one", out)]
    assert evals[0]["distilled"]["accuracies"] == evals[1]["distilled"]["accuracies"]
    # `dd eval` under torchrun: one network per rank, and only rank 0 writes the run's log
    before = len(log)
    again = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "ddcore", "eval", str(out), "--baseline", "none", *EVAL],
                           capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    added = (out / "log.txt").read_text()[before:]
    assert added.count("training 1 network(s) of 2") == 1  # rank 1 trained its network but wrote nothing here


def test_trajectory_slots_split_over_two_processes_match_one_process(tmp_path):
    """With the constant-memory unroll and DAE on: DAE weights the gradients after the ranks' reduce."""
    args = ["--dataset", "digits", "--ipc", "1", "--plugins", "edf", "--no-eval",
            *options("edf", {**EDF_TINY, "iterations": 3, "trajectories_per_iteration": 2, "dae": True, "unroll": "checkpoint"})]
    dd(1, tmp_path / "one", *args)
    dd(2, tmp_path / "two", *args)
    _, two = same_set(tmp_path / "one", tmp_path / "two")
    assert two.facts["edf"]["parallel"] == "2 trajectories per iteration over 2 processes" and two.facts["edf"]["unroll"] == "checkpoint"
    assert "DAE on" in (tmp_path / "two" / "log.txt").read_text()


def test_refinement_and_clip_selection_shard_their_images_and_agree_with_one_process(tmp_path):
    args = ["--dataset", "digits", "--ipc", "1", "--pool-factor", "3", "--plugins", "detector_refine,clip_select", "--no-eval",
            *options("detector_refine", {**DETECTOR_REFINE_TINY, "beta": 0.9}), "-o", "clip_select.fit_epochs=1"]
    dd(1, tmp_path / "one", *args)
    dd(2, tmp_path / "two", *args)
    one, two = same_set(tmp_path / "one", tmp_path / "two")
    assert torch.equal(one.columns["replaced"], two.columns["replaced"])  # the same images were regenerated
    assert [str(v) for v in one.columns["clip_pick"]] == [str(v) for v in two.columns["clip_pick"]]


def test_a_failing_rank_ends_the_job_with_its_error_and_keeps_the_last_checkpoint(tmp_path):
    """Rank 1 raises mid-stage; rank 0 stops at the stage's end instead of waiting for it; the job
    exits ≠ 0 in bounded time without an artifact; rank 0's last checkpoint is intact, and
    ``--resume`` under torchrun finishes the run with the uninterrupted run's set."""
    import time

    from safetensors import safe_open

    toy = ["--plugins", "toy", "-o", "toy.iterations=8", "-o", "toy.checkpoint_every=2"]
    out, env = tmp_path / "run", {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    proc = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "ddcore", "run", *toy, "--no-eval",
                           "-o", "toy.fail_rank=1", "-o", "toy.fail_step=5", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0 and time.monotonic() - started < 240
    assert "dd: error: [rank 1] plugin 'toy': stage toy (synthesizer) failed: RuntimeError: toy fails on rank 1" in proc.stderr
    assert "dd: error: another process of this torchrun job stopped" in proc.stderr  # rank 0's one sentence
    assert not (out / "distilled.safetensors").exists()
    with safe_open(str(out / "checkpoints" / "00-toy.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["info"])["step"] in (2, 4, 6, 8)
    resumed = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "ddcore", "run", "--resume", str(out)],
                             capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    dd(1, tmp_path / "whole", *toy, "--no-eval")
    same_set(tmp_path / "whole", out)
