"""The `dd edf` sub-commands and --preset, as a user runs them."""

from __future__ import annotations

import json


def test_presets_are_listed_with_what_they_set(dd):
    out = dd("edf", "presets", check=True).stdout
    for name in ("digits-ipc1", "mnist5k-ipc10", "cifar10-ipc50", "imagewoof-ipc10", "comp-dd-ipc50", "tiny-ipc50"):
        assert name in out
    assert "lr_img=" in out


def test_experts_command_trains_then_reuses(dd):
    args = ("edf", "experts", "--dataset", "digits", "--model", "convnet-w8", "--num", "2", "--epochs", "2")
    first = dd(*args, check=True)
    again = dd(*args, check=True)
    assert "2 trained now" in first.stderr and "0 trained now" in again.stderr
    assert "expert 2/2 trained in" in first.stderr and "trained in" not in again.stderr  # progress in the log, one line per expert
    assert "2 experts × 2 epochs" in again.stdout


def test_experts_command_with_a_preset_trains_the_experts_its_runs_use(dd, tmp_path):
    # the paper preset's experts: GSAM (adaptive, α) on convnet-pad3 with align_corners, all in the cache key
    made = dd("edf", "experts", "--preset", "digits-paper-ipc1", "--num", "1", "--epochs", "12", "--seed", "7", check=True)
    assert "1 trained now" in made.stderr and "ready for digits" in made.stdout and "adaptive GSAM rho 0.01 alpha 0.3" in made.stderr
    run = dd("run", "--plugins", "edf", "--ipc", "1", "--preset", "digits-paper-ipc1", "--seed", "7", "-o", "edf.num_experts=1",
             "-o", "edf.expert_train_epochs=12", "-o", "edf.iterations=1", "-o", "edf.dae=false", "--no-eval", "--out", str(tmp_path / "run"), check=True)
    assert "(0 trained now, 1 from the cache" in run.stderr
    bad = dd("edf", "experts", "--preset", "digits-ipc11")
    assert bad.returncode != 0 and "no EDF preset 'digits-ipc11'" in bad.stderr and "Traceback" not in bad.stderr


def test_preset_flag_fills_edf_options_and_bad_presets_are_one_sentence(dd):
    plan = json.loads(dd("run", "--plugins", "edf", "--ipc", "1", "--preset", "digits-ipc1", "--dry-run", check=True).stdout)
    assert plan["options"]["edf"]["preset"] == "digits-ipc1" and plan["options"]["edf"]["expert_batch"] == 128
    bad = dd("run", "--plugins", "edf", "--preset", "digits-ipc11", "--dry-run")
    assert bad.returncode != 0 and "no EDF preset 'digits-ipc11'" in bad.stderr and "Traceback" not in bad.stderr
    none = dd("run", "--plugins", "real", "--preset", "digits-ipc1", "--dry-run")
    assert none.returncode != 0 and "no stage in this run takes presets" in none.stderr


def test_a_paper_preset_also_sets_the_evaluation_network_unless_the_user_does(dd):
    args = ("run", "--plugins", "edf", "--ipc", "1", "--preset", "cifar10-ipc1", "--dataset", "digits", "--dry-run")
    plan = json.loads(dd(*args, check=True).stdout)
    assert plan["options"]["edf"]["expert_model"] == "convnet-d5" and plan["options"]["eval"]["model"] == "convnet-d5"
    mine = json.loads(dd(*args, "-o", "eval.model=convnet", check=True).stdout)
    assert mine["options"]["eval"]["model"] == "convnet"
