"""Every kind of file the project reads, truncated or garbled: one sentence and exit ≠ 0 from the
command that reads it, or, for what can be rebuilt (cache entries, a half-written metrics line, a
record of finished networks), the damage set aside and the work done again. Also: NaN in a
stage's output and a plugin raising mid-stage."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ddcore.artifact import DistilledSet
from ddcore.cache import Cache

TOY = ["run", "--plugins", "toy", "--ipc", "2", "-q", "-o", "toy.iterations=12", "-o", "toy.checkpoint_every=3"]
EVAL = ["-o", "eval.num_nets=1", "-o", "eval.epochs=2"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished, evaluated run and a run killed after its first checkpoint."""
    root = tmp_path_factory.mktemp("damaged")
    subprocess.run([sys.executable, "-m", "ddcore", *TOY, *EVAL, "--out", str(root / "done")], check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "ddcore", *TOY, "-o", "toy.sleep=0.3", "--no-eval", "--out", str(root / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = root / "killed" / "checkpoints" / "00-toy.safetensors"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return root


def damaged_copy(finished: Path, run: str, file: str, tmp_path: Path, how: str = "truncate") -> Path:
    copy = tmp_path / run
    shutil.copytree(finished / run, copy)
    path = copy / file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncate" else b"\x00garbage" + data[8:])
    return copy


def one_sentence(proc: subprocess.CompletedProcess, *parts: str) -> None:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("dd: error: ") and all(p in last for p in parts), last


@pytest.mark.parametrize("file, how, commands", [
    ("distilled.safetensors", "truncate", [["eval", "{run}", *EVAL], ["report", "{run}"], ["compare", "{run}"]]),
    ("distilled.safetensors", "garble", [["show", "{run}"]]),
    ("manifest.json", "truncate", [["show", "{run}"], ["compare", "{run}"]]),
    ("manifest.json", "garble", [["report", "{run}"]]),
    ("run.json", "truncate", [["run", "--resume", "{run}"]]),
    ("stages/00-toy.safetensors", "truncate", [["run", "--resume", "{run}"]]),
    ("eval.json", "truncate", [["compare", "{run}"]]),
])
def test_a_damaged_file_of_a_finished_run_is_one_sentence_naming_it(finished, tmp_path, dd, file, commands, how):
    run = damaged_copy(finished, "done", file, tmp_path, how)
    before = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    for command in commands:
        one_sentence(dd(*(a.format(run=run) for a in command)), Path(file).name)
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.name != "log.txt") == [b for b in before if b != "log.txt"]


def test_a_damaged_checkpoint_is_one_sentence_saying_how_to_restart_the_stage(finished, tmp_path, dd):
    garbled = damaged_copy(finished, "killed", "checkpoints/00-toy.safetensors", tmp_path / "garbled", "garble")
    one_sentence(dd("run", "--resume", str(garbled)), "00-toy.safetensors", "delete it to restart the stage")
    run = damaged_copy(finished, "killed", "checkpoints/00-toy.safetensors", tmp_path)
    one_sentence(dd("run", "--resume", str(run)), "00-toy.safetensors", "delete it to restart the stage")
    (run / "checkpoints" / "00-toy.safetensors").unlink()
    dd("run", "--resume", str(run), check=True)  # as the sentence says
    assert len(DistilledSet.load(run)) == 20


def test_a_half_written_metrics_line_and_eval_json_do_not_stop_the_report(finished, tmp_path, dd):
    run = damaged_copy(finished, "done", "eval.json", tmp_path)
    with open(run / "metrics" / "00-toy.jsonl", "a") as f:
        f.write('{"name": "loss", "st')
    dd("report", str(run), check=True)
    page = (run / "report" / "index.html").read_text()
    assert "eval.json is damaged" in page and "curves of 00-toy" in page


def test_damaged_cache_entries_are_set_aside_and_built_again(tmp_path, caplog):
    cache = Cache(tmp_path)
    spec = {"a": 1}
    path = cache.save("kind", spec, {"x": torch.arange(100.0)})
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one flipped byte: the file still opens
    path.write_bytes(bytes(data))
    assert cache.load("kind", spec) is None and "checksum does not match" in caplog.text
    assert not path.exists() and len(list(path.parent.glob("*.damaged-*"))) == 1
    assert torch.equal(cache.get_or_create("kind", spec, lambda: {"x": torch.arange(100.0)})["x"], torch.arange(100.0))

    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "weights.bin").write_bytes(b"w" * 1000)

    folder = cache.get_or_create_dir("folders", spec, build)
    (folder / "weights.bin").write_bytes(b"w" * 10)  # truncated
    assert cache.get_or_create_dir("folders", spec, build) == folder and len(builds) == 2
    assert (folder / "weights.bin").stat().st_size == 1000 and "does not have its recorded size" in caplog.text


def test_a_damaged_record_of_finished_networks_means_they_train_again(tmp_path):
    from ddcore.builtins.evaluation import FinishedNets

    FinishedNets(tmp_path, "id").put("eval net", 0, 0.5)
    assert FinishedNets(tmp_path, "id").get("eval net", 0) == 0.5 and FinishedNets(tmp_path, "other").get("eval net", 0) is None
    FinishedNets(tmp_path, "other").put("eval net", 0, 0.7)  # another set's evaluation in the same folder keeps its own record
    assert FinishedNets(tmp_path, "id").get("eval net", 0) == 0.5
    FinishedNets(tmp_path, "id").path.write_text('{"identity": "id", "accur')
    assert FinishedNets(tmp_path, "id").get("eval net", 0) is None


def test_a_finished_evaluation_removes_its_record_and_leaves_the_others(tmp_path):
    """Clearing one set's record keeps a concurrent evaluation's; the single record older versions
    wrote (never read now) goes too."""
    from ddcore.builtins.evaluation import FinishedNets

    mine, other = FinishedNets(tmp_path, "id"), FinishedNets(tmp_path, "other")
    mine.put("eval net", 0, 0.5), other.put("eval net", 0, 0.7)
    (tmp_path / "eval.partial.json").write_text("{}")
    mine.clear()
    assert not mine.path.exists() and other.path.exists() and not (tmp_path / "eval.partial.json").exists()


def test_nan_in_a_stages_output_stops_the_run_before_anything_is_saved_for_it(tmp_path, dd):
    out = tmp_path / "run"
    proc = dd(*TOY, "--no-eval", "--out", str(out), env={"DD_TOY_FAULT": "nan"})
    one_sentence(proc, "plugin 'toy'", "stage toy (synthesizer) returned 1 images or labels that are not finite")
    assert not (out / "stages").exists() and not (out / "distilled.safetensors").exists()
    dd("run", "--resume", str(out), check=True)  # the fault gone, the run finishes from its last checkpoint
    assert DistilledSet.load(out).images.isfinite().all()


def test_a_plugin_raising_mid_stage_is_named_and_the_run_resumes_from_its_last_checkpoint(tmp_path, dd):
    out = tmp_path / "run"
    proc = dd(*TOY, "--no-eval", "--out", str(out), env={"DD_TOY_FAULT": "raise@7"})
    one_sentence(proc, "plugin 'toy': stage toy (synthesizer) failed: RuntimeError: toy fails at step 7")
    dd("run", "--resume", str(out), check=True)
    assert "resumed at step 6" in (out / "log.txt").read_text()
    dd(*TOY, "--no-eval", "--out", str(tmp_path / "whole"), check=True)
    assert DistilledSet.load(out).images.equal(DistilledSet.load(tmp_path / "whole").images)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 0


def test_a_damaged_training_checkpoint_means_training_starts_over(tmp_path):
    from ddcore import load_progress, save_progress

    path = tmp_path / "partial.pt"
    save_progress(path, {"w": torch.arange(1000.0), "epochs": 3})
    assert load_progress(path, torch.device("cpu"))["epochs"] == 3
    path.write_bytes(path.read_bytes()[:300])
    said = []
    assert load_progress(path, torch.device("cpu"), said.append) is None
    assert not path.exists() and "is unreadable" in said[0] and "training from the first epoch" in said[0]
