"""DGS: the math on hand-made numbers, a run through ddcore.testing, and the command line stacked
after EDF (and before clip_select) when those plugins are installed."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import dd_dgs
from dd_dgs.difficulty import bounds, choose_clipping, clipping_objective, largest_remainder, log_transform, sample_by_bins
from ddcore import testing


def test_log_transform_spreads_easy_images_on_a_log_scale():
    d = torch.tensor([0.001, 0.01, 0.1, 1.0, 5e-5])
    out = log_transform(d, 0.001, 1.0)
    assert torch.allclose(out, torch.tensor([1e-4, 1 / 3, 2 / 3, 1.0, 1e-4]), atol=1e-6)  # below lo: clipped, floored
    assert torch.allclose(log_transform(d, 0.0, 1.0), ((d.clamp(1e-4, 1).log() - math.log(1e-4)) / -math.log(1e-4)).clamp_min(1e-4))


def test_bounds_and_the_clipping_grid():
    d = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.05, 0.6])
    assert bounds(d, 1, 2) == (pytest.approx(0.1), pytest.approx(0.6))
    assert choose_clipping(d, ipc=1, bins=10) == (0, 0)  # ⌊1/2⌋ = 0: nothing to search
    grid = [(b, t) for b in range(3) for t in range(3)]
    best = min(grid, key=lambda bt: clipping_objective(d, *bt, 10))
    assert choose_clipping(d, ipc=6, bins=10) == best


def test_largest_remainder_sums_to_n():
    assert largest_remainder(torch.tensor([1.0, 1.0, 2.0]), 5).tolist() == [1, 1, 3]
    assert largest_remainder(torch.tensor([0.0, 0.0]), 3).sum() == 3


def test_sampling_takes_each_bins_count_and_fills_shortfalls():
    bins = torch.tensor([0, 0, 0, 1, 2, 2])
    g = torch.Generator().manual_seed(0)
    picked = sample_by_bins(bins, torch.tensor([2, 0, 1]), g)
    assert len(picked) == 3 and sorted(bins[picked].tolist()) == [0, 0, 2]
    picked = sample_by_bins(bins, torch.tensor([0, 3, 0]), g)  # bin 1 holds one image: two come from the rest
    assert len(set(picked.tolist())) == 3 and 3 in picked.tolist()


def test_a_run_keeps_ipc_per_class_with_difficulty_columns(tmp_path):
    manager = testing.make_plugin_manager((dd_dgs, "dgs"))
    d = testing.run_tiny(["dgs"], tmp_path / "r", ipc=4, pool_factor=3, manager=manager,
                         options={"dgs": {"model": "convnet-w16", "epochs": 1}})
    testing.assert_artifact(d, ipc=4, num_classes=10)
    assert ((d.columns["dgs_difficulty"] >= 0) & (d.columns["dgs_difficulty"] <= 1)).all()
    assert [s["stage"] for s in d.facts["stages"]] == ["real", "dgs"]


EDF_TINY = ["-o", "edf.expert_model=convnet-w16", "-o", "edf.num_experts=2", "-o", "edf.expert_train_epochs=3",
            "-o", "edf.max_start_epoch=1", "-o", "edf.current_max_start_epoch=1", "-o", "edf.iterations=3",
            "-o", "edf.syn_steps=3", "-o", "edf.cam_model=convnet-w16", "-o", "edf.cam_epochs=1"]


@pytest.mark.parametrize("plugins", ["edf,dgs", "edf,dgs,clip_select"])
def test_stacks_after_edf_from_the_command_line(tmp_path, plugins):
    for needed in plugins.split(",")[::2]:
        pytest.importorskip(f"dd_{needed}")
    extra = ["-o", "clip_select.no_weights=diversity"] if "clip_select" in plugins else []
    proc = subprocess.run([sys.executable, "-m", "ddcore", "run", "--dataset", "digits", "--ipc", "1", "--plugins", plugins,
                           "--device", "cpu", "--no-eval", "-q", "--out", str(tmp_path / "r"), "-o", "dgs.model=convnet-w16",
                           "-o", "dgs.epochs=1", *EDF_TINY, *extra], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    from ddcore import DistilledSet

    d = DistilledSet.load(tmp_path / "r")
    testing.assert_artifact(d, ipc=1, num_classes=10)
    assert [s["stage"] for s in d.facts["stages"] if s["kind"] != "scorer"] == [p for p in plugins.split(",")]
