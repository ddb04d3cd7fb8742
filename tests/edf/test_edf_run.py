"""EDF end to end on digits with tiny settings: experts cached, runs, resumes, stacks with other plugins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import dd_toy
import dd_toy.weights
import pytest
import torch

import dd_edf
from ddcore import testing
from ddcore.artifact import DistilledSet
from ddcore.cache import Cache
from ddcore.builtins.data.embedded import load_digits
from dd_edf.experts import ExpertSettings, load_or_train_experts
from tiny_settings import EDF_TINY as TINY


def test_experts_save_distinct_epochs_and_are_cached(tmp_path):
    data = load_digits()
    settings = ExpertSettings(model="convnet-w16", epochs=3)
    logs = []
    first = load_or_train_experts(Cache(tmp_path), data, settings, 2, 0, torch.device("cpu"), logs.append, quiet=True)
    again = load_or_train_experts(Cache(tmp_path), data, settings, 2, 0, torch.device("cpu"), logs.append, quiet=True)
    assert first[0].shape[0] == 4 and all(a[e].equal(b[e]) for a, b in zip(first, again) for e in range(4))
    summaries = [m for m in logs if "trained now" in m]  # one per call, after a line per trained expert
    assert "(2 trained now" in summaries[0] and "(0 trained now" in summaries[1]
    assert [m.split(" trained in")[0] for m in logs if " trained in " in m] == ["expert 1/2", "expert 2/2"]
    # every saved epoch is its own copy (the original code saved views that all equal the last epoch)
    assert all(not first[0][i].equal(first[0][i + 1]) for i in range(3))
    assert not first[0][-1].equal(first[1][-1])


def run(tmp_path, name, plugins=("edf",), ipc=1, **edf):
    return testing.run_tiny(list(plugins), tmp_path / name, ipc=ipc, options={"edf": {**TINY, **edf}}, manager=MANAGER)


MANAGER = testing.make_plugin_manager((dd_edf, "edf"), dd_toy)


def test_edf_run_writes_soft_labels_learned_lr_and_its_options(tmp_path):
    d = run(tmp_path, "edf")
    testing.assert_artifact(d, ipc=1, num_classes=10, stages=["edf"])
    assert d.soft_labels is not None and d.lr is not None and d.lr > 0
    assert d.facts["options"]["edf"]["cpd_ratio"] == 0.25 and d.facts["stages"][0]["stage"] == "edf"
    assert d.facts["edf"]["experts"] == 2
    losses = (tmp_path / "edf" / "metrics" / "00-edf.jsonl").read_text().count('"loss"')
    assert losses == 6


def test_the_official_codes_choices_run_together_and_change_the_set(tmp_path):
    """SmoothGrad-CAM++ at the last pooling layer, experts without replacement, ±2 px crops with
    align_corners, adaptive GSAM experts and the pad-3 network: a run, and not the default run's set."""
    official = dict(cam_method="smoothgradcam++", cam_layer="last_pool", expert_sampling="without_replacement",
                    dsa_crop_ratio=0.25, dsa_align_corners=True, expert_dsa_crop_ratio=0.25, expert_dsa_align_corners=True,
                    expert_sam_rho=0.01, expert_gsam_alpha=0.3, expert_sam_adaptive=True, expert_model="convnet-w16-pad3",
                    cam_model="convnet-d2-w16-pad3", iterations=3)
    d = run(tmp_path, "official", **official)
    testing.assert_artifact(d, ipc=1, num_classes=10, stages=["edf"])
    plain = run(tmp_path, "plain", iterations=3)
    assert not torch.allclose(d.images, plain.images)
    assert d.facts["options"]["edf"]["cam_method"] == "smoothgradcam++"


def test_checkpoint_unroll_makes_the_set_full_makes(tmp_path):
    full = run(tmp_path, "full", unroll="full")
    ckpt = run(tmp_path, "ckpt", unroll="checkpoint")
    assert full.facts["edf"]["unroll"] == "full" and ckpt.facts["edf"]["unroll"] == "checkpoint"
    assert torch.allclose(full.images, ckpt.images, rtol=1e-4, atol=1e-4) and abs(full.lr - ckpt.lr) < 1e-6
    assert torch.allclose(full.soft_labels, ckpt.soft_labels, rtol=1e-4, atol=1e-4)


def test_mtt_mode_uses_hard_labels(tmp_path):
    d = run(tmp_path, "mtt", method="mtt", dae=False, cpd_ratio=0.0)
    assert d.soft_labels is None and d.facts["options"]["edf"]["method"] == "mtt"


def test_distillation_lowers_the_matching_loss_on_fixed_segments(tmp_path):
    """The same seeded unrolls from the same expert epochs match better from the distilled images than from their start."""
    from ddcore.models import build_model
    from dd_edf.flat import FlatModel
    from dd_edf.matching import expert_settings, unroll
    from dd_edf.options import EdfOptions

    d = run(tmp_path, "fit", iterations=20, dae=False, cpd_ratio=0.0, lr_y=0.0, lr_lr=0.0, lr_img=0.01, threshold=10.0)
    data, logs = load_digits(), []
    opts = EdfOptions(**d.facts["options"]["edf"])  # the run's own experts, read back from the cache
    trajs = load_or_train_experts(Cache(os.environ["DD_CACHE_DIR"]), data, expert_settings(opts), opts.num_experts, 0,
                                  torch.device("cpu"), logs.append, quiet=True)
    assert "0 trained now" in logs[-1]
    net = build_model("convnet-w16", 1, 10, (8, 8))
    for p in net.parameters():
        p.requires_grad_(False)
    f = FlatModel(net)

    def loss(images):
        total = 0.0
        for traj in trajs:
            for s in range(2):
                start = traj[s].clone().requires_grad_(True)
                end = unroll(f, start, images, d.soft_labels, torch.tensor(0.01), 5, 10, torch.Generator().manual_seed(s), True)
                total += float((((end - traj[s + 2]) ** 2).sum() / ((traj[s] - traj[s + 2]) ** 2).sum()).detach())
        return total

    start = data.train_images[d.columns["init_real_index"]]
    assert not start.equal(d.images)
    assert loss(d.images) < loss(start)


def test_another_plugin_weights_edf_pixel_gradients(tmp_path):
    dd_toy.weights.CALLS.update(terms=0, pixels=0)
    frozen = run(tmp_path, "frozen", plugins=("edf", "toy_weights"), init="real", dae=False)
    assert dd_toy.weights.CALLS["pixels"] == 6 and dd_toy.weights.CALLS["terms"] == 6
    data = load_digits()
    # pixel_scale defaults to 1: images move; with 0 they stay the real images they started from


    frozen0 = testing.run_tiny(["edf", "toy_weights"], tmp_path / "zero", ipc=1, manager=MANAGER,
                               options={"edf": {**TINY, "init": "real", "dae": False}, "toy_weights": {"pixel_scale": 0.0}})
    assert frozen0.images.equal(data.train_images[frozen0.columns["init_real_index"]])
    assert not frozen.images.equal(data.train_images[frozen.columns["init_real_index"]])


def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path, dd):
    args = ["run", "--plugins", "edf", "--ipc", "1", "--no-eval", "-q"]


    for k, v in {**TINY, "iterations": 12, "checkpoint_every": 3}.items():
        args += ["-o", f"edf.{k}={v}" if not isinstance(v, str) else f'edf.{k}="{v}"']
    dd(*args, "--out", str(tmp_path / "full"), check=True)
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "ddcore", *args, "--out", str(cut)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = cut / "checkpoints" / "00-edf.safetensors"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if (cut / "distilled.safetensors").exists():
        pytest.fail("the run finished before it could be interrupted; raise iterations")
    assert ckpt.exists()
    dd("run", "--resume", str(cut), check=True)
    a, b = DistilledSet.load(tmp_path / "full"), DistilledSet.load(cut)
    assert a.images.equal(b.images) and a.soft_labels.equal(b.soft_labels) and a.lr == b.lr
    assert "resumed at iteration" in (cut / "log.txt").read_text()


def test_edf_then_clip_select(tmp_path):
    """EDF makes a pool of pool_factor × IPC per class; clip_select (fitted CLIP, no weights given) keeps IPC."""
    import dd_clip_select

    pm = testing.make_plugin_manager((dd_edf, "edf"), (dd_clip_select, "clip_select"))
    d = testing.run_tiny(["edf", "clip_select"], tmp_path / "r", ipc=1, pool_factor=3,
                         options={"edf": TINY, "clip_select": {"fit_epochs": 1}}, manager=pm)
    assert d.soft_labels is not None  # EDF's learned labels travel with the kept images
    assert d.facts["clip_select"]["encoder_source"] == "fitted" and d.facts["clip_select"]["pool_per_class"] == [3] * 10
    from ddcore import DistilledSet

    pool = DistilledSet.load(tmp_path / "r" / "stages" / "00-edf.safetensors")
    for image, labels in zip(d.images, d.soft_labels):  # each kept image is an EDF image, with its own learned labels
        rows = [i for i in range(len(pool)) if torch.equal(pool.images[i], image)]
        assert len(rows) == 1 and torch.equal(pool.soft_labels[rows[0]], labels)
    assert [s["stage"] for s in d.facts["stages"]] == ["edf", "clip_select", "clip_select"]


def test_edf_on_zca_whitened_data(tmp_path):
    d = testing.run_tiny(["edf"], tmp_path / "z", dataset="digits?zca=0.1", ipc=1, options={"edf": {**TINY, "iterations": 2}},
                         manager=MANAGER)
    assert d.facts["dataset"] == "digits?zca=0.1" and d.facts["data"]["zca_eps"] == 0.1
    from ddcore import open_dataset

    whitened = open_dataset("digits?zca=0.1")
    start = whitened.images_of("train", d.columns["init_real_index"])
    assert torch.isfinite(d.images).all() and not torch.allclose(d.images, start)  # it distilled in the whitened space


def test_a_run_whose_updates_diverge_says_so_in_the_manifest_and_the_evaluation(tmp_path, caplog):
    """``-o edf.lr_img=1e12``: the updates diverge (or the gate rejects them); the set is not silently passed off."""
    from ddcore.builtins.evaluation import EvalOptions, evaluate, format_result
    from ddcore import open_dataset

    d = run(tmp_path, "wild", lr_img=1e12, max_skipped=50)
    warnings = d.facts["edf"]["warnings"]
    assert warnings and all("lower edf.lr_img" in w for w in warnings)
    assert any("lower edf.lr_img" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    result = evaluate(d, open_dataset("digits"), EvalOptions(num_nets=1, epochs=1, model="convnet-w8"), torch.device("cpu"),
                      baselines=(), quiet=True)
    assert result["warnings"] == warnings and format_result(result).startswith("warning: EDF")
    tame = run(tmp_path, "tame")
    assert tame.facts["edf"]["warnings"] == []
