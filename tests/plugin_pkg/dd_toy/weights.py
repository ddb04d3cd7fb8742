"""Modifier ``toy_weights``: only weights an optimising synthesizer's losses and gradients.

Registered by the ``toy`` package itself (``register_modifiers``), so one entry point offers a
synthesizer and a modifier. It zeroes the matching terms of the first ``drop`` elements and
scales pixel gradients, and counts its calls so tests can see it ran (and did not when not named).
"""

from __future__ import annotations

from pydantic import Field

from ddcore import Modifier, Options, hookimpl

CALLS = {"terms": 0, "pixels": 0}


class ToyWeightOptions(Options):
    drop: int = Field(0, ge=0, description="zero the weights of the first N terms")
    pixel_scale: float = Field(1.0, description="multiply pixel gradients by this")


class ToyWeights(Modifier):
    name = "toy_weights"
    description = "zeroes the first N matching terms and scales pixel gradients (a test modifier)"

    @hookimpl
    def weight_matching_terms(self, ctx, terms):
        CALLS["terms"] += 1
        opts = ctx.options_for("toy_weights")
        if not opts.drop:
            return None
        import torch

        w = torch.ones_like(terms.numerator)
        w[: opts.drop] = 0
        return w

    @hookimpl
    def weight_pixel_gradients(self, ctx, grads):
        CALLS["pixels"] += 1
        return ctx.options_for("toy_weights").pixel_scale
