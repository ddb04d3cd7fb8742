"""The three components registered under ``detector_refine``; torch-free so plugin loading stays instant.

Each delegates to the module that does the work. Which of them runs follows the core's rule:
the synthesizer only when ``detector_refine`` comes first in ``--plugins``; the scorer and the
refinement every time.
"""

from __future__ import annotations

from ddcore import Scorer, Selector, Synthesizer

STAGE = "detector_refine"


class PrototypeSynthesizer(Synthesizer):
    name = STAGE
    description = "D4M-style synthesis: img2img from k-means latent prototypes of each class with a diffusion model"

    def synthesize(self, ctx, data, per_class):
        from .synthesis import synthesize_from_prototypes

        return synthesize_from_prototypes(ctx, data, per_class)


class AnomalyScorer(Scorer):
    name = STAGE
    description = "detector confidence for each image's label, and whether it is anomalous (argmax ≠ label or p < β)"
    columns = ("detector_confidence", "detector_agrees", "anomalous")

    def score(self, ctx, pool, data):
        from .anomaly import score_anomalies

        return score_anomalies(ctx, pool, data)


class DetectorRefiner(Selector):
    name = STAGE
    description = "replace images the detector flags (wrong label or p < β) with the best of K diffusion candidates"
    mode = "refine"

    def select(self, ctx, pool, data, ipc):
        from .refine import refine_pool

        return refine_pool(ctx, pool, data)
