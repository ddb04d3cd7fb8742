"""clip_select inside real runs: the tiny open_clip through a weights file, the fitted and the
diversity-only fallbacks, the embedding cache, `explain`, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ddcore import testing
from ddcore.artifact import DistilledSet
from ddcore.errors import ConfigError
from dd_clip_select.encoder import create_encoder
from dd_clip_select.sampling import kcenter, mmr, stage_one
from dd_clip_select.scoring import quality
from dd_clip_select.scores import relevance, separability
from dd_clip_select.text import templates_for

IPC, FACTOR = 2, 4


def _tiny(tiny_clip, **extra):
    folder, _ = tiny_clip
    return {"clip_select": {"model": "dd-test-tiny-clip", "weights": str(folder / "weights.pt"), **extra}}


@pytest.fixture(scope="module")
def tiny_run(tiny_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    return out, testing.run_tiny(["clip_select"], out, ipc=IPC, pool_factor=FACTOR, options=_tiny(tiny_clip))


def test_the_kept_images_are_the_ones_the_formulas_choose(tiny_run, tiny_clip):
    out, d = tiny_run
    testing.assert_artifact(d, ipc=IPC, num_classes=10)
    pool = DistilledSet.load(out / "stages" / "00-real.safetensors")
    scored = DistilledSet.load(out / "stages" / "01-clip_select.safetensors")
    # recompute everything from the weights file, outside the plugin's code path
    from ddcore.builtins.data.embedded import load_digits

    data = load_digits()
    enc = create_encoder("dd-test-tiny-clip", str(tiny_clip[0] / "weights.pt"), torch.device("cpu"))
    v = enc.images(data.denormalize(pool.images).clamp(0, 1))
    t = enc.classes([n for n in data.class_names], templates_for("default"))
    r, s = relevance(v, pool.classes, t), separability(v, pool.classes, t)
    assert torch.allclose(scored.columns["clip_relevance"], r, atol=1e-5)
    assert torch.allclose(scored.columns["clip_separability"], s, atol=1e-5)
    q = quality(r, s, pool.classes, 0.5)
    expected = []
    for c in range(10):
        idx = pool.indices_of_class(c)
        cand = stage_one(q[idx], IPC, 2.0)
        expected += idx[cand[mmr(v[idx][cand], q[idx][cand], IPC, 0.5, rescale=True)]].tolist()
    assert d.columns["clip_pool_position"].tolist() == expected
    assert d.columns["clip_pick"].tolist() == [0, 1] * 10
    facts = d.facts["clip_select"]
    assert facts["encoder_source"] == "pretrained" and "weights.pt" in facts["encoder"] and facts["candidates_per_class"] == [4] * 10


def test_embeddings_are_cached_per_pool(tiny_run, tiny_clip, tmp_path):
    out, _ = tiny_run
    assert "] encoder: open_clip dd-test-tiny-clip" in (out / "log.txt").read_text()
    from dd_clip_select import embedding

    embedding._memo.clear()  # a fresh process would start with none
    again = testing.run_tiny(["clip_select"], tmp_path / "again", ipc=IPC, pool_factor=FACTOR, options=_tiny(tiny_clip))
    assert "] encoder: open_clip" not in (tmp_path / "again" / "log.txt").read_text()  # loaded from the cache, not encoded
    assert again.columns["clip_pool_position"].equal(DistilledSet.load(out).columns["clip_pool_position"])


def test_explain_writes_the_table_the_csv_and_the_png(tiny_run):
    from dd_clip_select.explain import build_explanation, format_explanation

    out, d = tiny_run
    report = build_explanation(out)
    rows = report["per_class"]
    assert [r["kept"] for r in rows] == [IPC] * 10 and [r["pool"] for r in rows] == [IPC * FACTOR] * 10
    # Q of the kept images is never below the rejected ones' on average: stage 1 keeps the top β·IPC
    assert all(r["quality_kept"] >= r["quality_rejected"] for r in rows)
    lines = (out / "clip_select" / "scores.csv").read_text().splitlines()
    assert len(lines) == 1 + IPC * FACTOR * 10 and sum(line.split(",")[2] == "1" for line in lines[1:]) == IPC * 10
    from PIL import Image

    tile = 8 * 8 + 2  # 8×8 digits upscaled 8×, 2 px padding
    width, height = Image.open(report["png"]).size  # kept | blank | rejected, a row per class, plus the labels' margins
    assert 0 < width - ((2 * IPC + 1) * tile + 2) < 100 and 0 < height - (10 * tile + 2) < 40
    assert "class | pool | candidates" in format_explanation(report)


def test_diversity_only_says_so_and_spreads_its_picks(tmp_path):
    d = testing.run_tiny(["clip_select"], tmp_path / "div", ipc=IPC, pool_factor=FACTOR,
                         options={"clip_select": {"no_weights": "diversity"}})
    testing.assert_artifact(d, ipc=IPC, num_classes=10)
    assert d.facts["clip_select"]["encoder_source"] == "diversity-only"
    assert d.columns["clip_relevance"].isnan().all() and not d.columns["clip_diversity"].isnan().any()
    assert "no CLIP scores" in (tmp_path / "div" / "log.txt").read_text()
    pool = DistilledSet.load(tmp_path / "div" / "stages" / "00-real.safetensors")
    pixels = pool.images.flatten(1)
    v = torch.nn.functional.normalize(pixels - pixels.mean(0), dim=1)
    idx = pool.indices_of_class(3)
    centre = v[idx] @ torch.nn.functional.normalize(v[idx].mean(0), dim=0)
    assert d.columns["clip_pool_position"][d.classes == 3].tolist() == idx[kcenter(v[idx], centre, IPC)].tolist()


def test_bad_templates_file_stops_before_compute(tmp_path):
    bad = tmp_path / "templates.txt"
    bad.write_text("a photo of a {}.\nno placeholder here\n")
    with pytest.raises(ConfigError, match="must contain"):
        testing.run_tiny(["clip_select"], tmp_path / "r", options={"clip_select": {"templates": str(bad)}})
    assert not (tmp_path / "r").exists()


def test_explain_on_a_run_without_clip_select_is_one_sentence(tmp_path):
    testing.run_tiny(["real"], tmp_path / "plain", ipc=1)
    proc = subprocess.run([sys.executable, "-m", "ddcore", "clip_select", "explain", str(tmp_path / "plain")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "has no clip_select selector stage" in proc.stderr and "Traceback" not in proc.stderr
