"""``ddcore.testing``: what a plugin author's own tests use, checked on the toy package."""

from __future__ import annotations

import dd_toy
import torch

from ddcore import testing


def test_run_modifier_returns_what_the_modifier_weighted(tmp_path):
    trace = testing.run_modifier(dd_toy, "toy_weights", tmp_path / "m", iterations=2,
                                 options={"toy_weights": {"drop": 5, "pixel_scale": 0.5}})
    assert len(trace.terms) == len(trace.term_weights) == 2
    w = trace.term_weights[0]
    assert w.shape == trace.terms[0].numerator.shape and (w[:5] == 0).all() and (w[5:] == 1).all()
    assert torch.allclose(trace.weighted_grads[1], 0.5 * trace.pixels[1].grad)
    testing.assert_artifact(trace.result, ipc=1, num_classes=10, stages=["testing_probe"])


def test_without_options_the_modifier_leaves_the_terms_alone(tmp_path):
    trace = testing.run_modifier(dd_toy, "toy_weights", tmp_path / "m", iterations=1)
    assert (trace.term_weights[0] == 1).all() and torch.equal(trace.weighted_grads[0], trace.pixels[0].grad)
