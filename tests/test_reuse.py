"""`dd run --reuse-from RUN`: identical leading stages are copied, not computed, and the result
equals a fresh run; anything that differs is computed, and the reason is said."""

from __future__ import annotations

import json

from ddcore.artifact import DistilledSet

SMALL = ("--ipc", "2", "--pool-factor", "3", "--no-eval", "-o", "toy.iterations=12")


def stages_of(run):
    return json.loads((run / "manifest.json").read_text())["stages"]


def test_a_shared_prefix_is_copied_and_the_set_equals_a_fresh_run(tmp_path, dd):
    first, reused, fresh = tmp_path / "first", tmp_path / "reused", tmp_path / "fresh"
    dd("run", "--plugins", "toy,random", *SMALL, "-q", "--out", str(first), check=True)
    planned = dd("run", "--plugins", "toy,herding", *SMALL, "--reuse-from", str(first), "--out", str(reused), "--dry-run", check=True)
    assert "stages 0–0 (toy) copied from" in json.loads(planned.stdout)["reuse"] and not reused.exists()
    proc = dd("run", "--plugins", "toy,herding", *SMALL, "--reuse-from", str(first), "--out", str(reused), check=True)
    dd("run", "--plugins", "toy,herding", *SMALL, "-q", "--out", str(fresh), check=True)

    assert f"stages 0–0 (toy) copied from {first}" in proc.stderr
    assert not (reused / "metrics").exists() and not (reused / "checkpoints").exists(), "the copied toy stage ran again"
    assert [s.get("reused_from") for s in stages_of(reused)] == [str(first), None]
    a, b = DistilledSet.load(reused), DistilledSet.load(fresh)
    assert a.images.equal(b.images) and a.classes.equal(b.classes)
    for record in a.facts["stages"]:
        record.pop("reused_from", None)
    assert a.facts == b.facts


def test_a_different_option_or_modifier_is_computed_and_the_reason_said(tmp_path, dd):
    first = tmp_path / "first"
    dd("run", "--plugins", "toy,random", *SMALL, "-q", "--out", str(first), check=True)
    other = tmp_path / "other"
    proc = dd("run", "--plugins", "toy,random", *SMALL, "-o", "toy.lr=0.2", "--reuse-from", str(first), "--out", str(other), check=True)
    assert "nothing to reuse" in proc.stderr and "stage 0 toy differs in options" in proc.stderr
    assert (other / "metrics").exists() and all("reused_from" not in s for s in stages_of(other))
    weighted = tmp_path / "weighted"
    proc = dd("run", "--plugins", "toy,toy_weights,random", *SMALL, "--reuse-from", str(first), "--out", str(weighted), check=True)
    assert "nothing to reuse" in proc.stderr and "modifier options differ" in proc.stderr


def test_a_folder_that_is_not_a_run_is_one_sentence_and_writes_nothing(tmp_path, dd):
    out = tmp_path / "out"
    proc = dd("run", "--plugins", "toy", *SMALL, "--reuse-from", str(tmp_path), "--out", str(out))
    assert proc.returncode != 0 and "is not a run folder" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    proc = dd("run", "--resume", str(out), "--reuse-from", str(tmp_path))
    assert proc.returncode != 0 and "drop one of them" in proc.stderr
    first = tmp_path / "first"
    dd("run", "--plugins", "toy", *SMALL, "-q", "--out", str(first), check=True)
    proc = dd("run", "--plugins", "toy", *SMALL, "--reuse-from", str(first), "--out", str(first), "--overwrite")
    assert proc.returncode != 0 and "names the folder this run writes" in proc.stderr and (first / "manifest.json").is_file()
