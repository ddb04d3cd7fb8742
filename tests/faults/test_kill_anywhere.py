"""Kill -9 anywhere, then ``dd run --resume``: the same set and the same evaluation as a run never
interrupted, losing at most one checkpoint interval of whatever was running.

One run of the whole chain (``edf,detector_refine,clip_select``, with DAE, evaluated) is killed
again and again: once in each kind of work — expert training, the CAM network, distillation,
the generator's training, refinement, the CLIP fit, evaluation — each time at a random moment
after that work has saved its first checkpoint, and resumed in between. The kill moments come
from a seeded generator and are printed, so a failure can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ddcore.artifact import DistilledSet

EDF = {"expert_model": "convnet-w16", "num_experts": 2, "expert_train_epochs": 8, "max_start_epoch": 2,
       "current_max_start_epoch": 1, "iterations": 40, "syn_steps": 5, "checkpoint_every": 4, "lr_img": 10.0,
       "dae_interval": 2, "cam_model": "convnet-w16", "cam_epochs": 60}
REFINE = {"gen_width": 8, "gen_vae_epochs": 2, "gen_unet_epochs": 4, "steps": 4, "candidates": 6, "top_k": 2, "rounds": 4,
          "beta": 0.9, "detector_model": "convnet-w16", "detector_epochs": 60, "batch_size": 32}
ARGS = ["run", "--plugins", "edf,detector_refine,clip_select", "--ipc", "1", "--pool-factor", "3",
        *(a for k, v in EDF.items() for a in ("-o", f"edf.{k}={v}")),
        *(a for k, v in REFINE.items() for a in ("-o", f"detector_refine.{k}={v}")),
        "-o", "clip_select.fit_epochs=2", "-o", "eval.num_nets=3", "-o", "eval.epochs=150"]


def _log(out: Path) -> str:
    return (out / "log.txt").read_text() if (out / "log.txt").exists() else ""


def _any(folder: Path, pattern: str) -> bool:
    return folder.exists() and any(folder.glob(pattern))


# (the work, when its first checkpoint exists, what the resumed run's log then says, when the work is over)
KILLS = [
    ("expert training", lambda out, cache: _any(cache / "edf-expert", "*.safetensors"), "(1 trained now, 1 from the cache",
     lambda out, cache: "2 expert trajectories (" in _log(out)),
    ("the CAM network", lambda out, cache: _any(cache / "classifier", "*.partial.pt"), "continuing the interrupted training",
     lambda out, cache: "classifier: " in _log(out)),
    ("distillation", lambda out, cache: (out / "checkpoints" / "00-edf.safetensors").exists(), "resumed at iteration",
     lambda out, cache: "stage 0 edf finished" in _log(out)),
    ("generator training", lambda out, cache: _any(cache / "detector_refine-generator", "*.partial.pt"),
     "resuming generator training", lambda out, cache: "generator trained" in _log(out)),
    ("refinement", lambda out, cache: (out / "checkpoints" / "02-detector_refine.safetensors").exists(), "resumed after round",
     lambda out, cache: "stage 2 detector_refine finished" in _log(out)),
    ("the CLIP fit", lambda out, cache: _any(cache / "clip_select-fitted", "*.partial.pt"), "resuming the CLIP fit",
     lambda out, cache: "fitted: last contrastive loss" in _log(out)),
    ("evaluation", lambda out, cache: "eval net 1/3: " in _log(out), "(trained before the evaluation was interrupted)",
     lambda out, cache: "eval net 3/3: " in _log(out)),
]


def _resumed(expect: str | None, log: str, killed_in: list[str]) -> None:
    """The start after a kill inside some work continued it (its log says so) instead of starting over."""
    assert expect is None or expect in log, f"after the kill in {killed_in[-1]} the resumed run did not say {expect!r}"


def _dd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ddcore", *args, "-q"]


def test_killed_in_every_kind_of_work_then_resumed_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    done = subprocess.run(_dd(*ARGS, "--out", str(whole), "--cache-dir", str(tmp_path / "cache-whole")),
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

    rng, cache = random.Random(os.environ.get("DD_KILL_SEED", "0")), tmp_path / "cache-cut"
    command = _dd(*ARGS, "--out", str(cut), "--cache-dir", str(cache))
    killed_in, expect, log_before = [], None, 0
    for work, started, resumed_says, over in KILLS:
        errors = open(tmp_path / f"stderr-{len(killed_in)}.txt", "w+")
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, text=True, env=env)
        deadline = time.time() + 300
        while not started(cut, cache) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        delay = rng.uniform(0, 0.15)
        time.sleep(delay)
        if proc.poll() is not None:
            errors.seek(0)
            pytest.fail(f"the run ended before {work} could be interrupted: {errors.read()[-2000:]}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        errors.close()
        _resumed(expect, _log(cut)[log_before:], killed_in)
        in_progress = not over(cut, cache)
        killed_in.append(f"{work} (+{delay:.3f}s{', in progress' if in_progress else ', just after it ended'})")
        expect, log_before = resumed_says if in_progress else None, len(_log(cut))
        command = _dd("run", "--resume", str(cut))
    final = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    _resumed(expect, _log(cut)[log_before:], killed_in)

    a, b = DistilledSet.load(whole), DistilledSet.load(cut)
    assert a.images.equal(b.images) and a.soft_labels.equal(b.soft_labels) and a.lr == b.lr, f"kills: {killed_in}"
    assert all(str(a.columns[k]) == str(b.columns[k]) for k in a.columns), f"kills: {killed_in}"
    ea, eb = (json.loads((d / "eval.json").read_text()) for d in (whole, cut))
    assert ea["distilled"]["accuracies"] == eb["distilled"]["accuracies"] and ea["random"] == eb["random"], f"kills: {killed_in}"
    in_progress = [k for k in killed_in if "in progress" in k]
    print("kills:", killed_in)
    assert len(in_progress) >= 5, f"too few kills landed inside their work to test resuming: {killed_in}"
