"""The three plugins stacked in one run: EDF makes a pool of pool_factor × IPC per class, the
detector refines it in place, CLIP keeps IPC per class; the manifest lists every stage in order."""

from __future__ import annotations

import dd_clip_select
import dd_detector_refine
import dd_edf
from ddcore import testing
from ddcore.artifact import DistilledSet
from tiny_settings import DETECTOR_REFINE_TINY, EDF_TINY

MANAGER = testing.make_plugin_manager((dd_edf, "edf"), (dd_detector_refine, "detector_refine"), (dd_clip_select, "clip_select"))


def test_edf_detector_refine_clip_select(tmp_path):
    import torch

    out = tmp_path / "chain"
    d = testing.run_tiny(["edf", "detector_refine", "clip_select"], out, ipc=1, pool_factor=3, manager=MANAGER,
                         options={"edf": EDF_TINY, "detector_refine": {**DETECTOR_REFINE_TINY, "beta": 0.9},
                                  "clip_select": {"fit_epochs": 1}})
    stages = [(s["stage"], s["kind"], s["mode"], s["per_class"]) for s in d.facts["stages"]]
    assert stages == [("edf", "synthesizer", None, 3), ("detector_refine", "scorer", None, 3),
                      ("detector_refine", "selector", "refine", 3), ("clip_select", "scorer", None, 3),
                      ("clip_select", "selector", "select", 1)]
    # CLIP really scored: a small open_clip model fitted on the data, not the diversity-only fallback
    assert d.facts["clip_select"]["encoder_source"] == "fitted"
    refined = DistilledSet.load(out / "stages" / "02-detector_refine.safetensors")
    scored = DistilledSet.load(out / "stages" / "03-clip_select.safetensors")
    assert torch.equal(scored.images, refined.images)  # a scorer adds columns, never changes images
    for c in range(10):  # each kept image is one of its class's refined pool images, with its CLIP scores
        kept = d.images[d.classes == c]
        pool = scored.images[scored.classes == c]
        match = [i for i in range(len(pool)) if torch.equal(pool[i], kept[0])]
        assert len(match) == 1
        row = torch.nonzero(scored.classes == c).flatten()[match[0]]
        assert float(d.columns["clip_quality"][d.classes == c][0]) == float(scored.columns["clip_quality"][row])
    assert d.soft_labels is not None  # EDF's learned labels survive refinement and selection
    assert {"detector_confidence", "replaced", "clip_pick"} <= set(d.columns)  # every stage's columns travel
