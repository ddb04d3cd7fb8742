"""The two components registered under ``clip_select``; torch-free so plugin loading stays instant.

The scorer adds CLIP's score columns to whatever pool it receives; the selector then keeps IPC
images per class. With no synthesizer before it, the core's ``real`` synthesizer makes the pool
(coreset selection from real images).
"""

from __future__ import annotations

from ddcore import Scorer, Selector

STAGE = "clip_select"
COLUMNS = ("clip_relevance", "clip_separability", "clip_quality", "clip_zero_shot_correct", "clip_diversity")


class ClipScorer(Scorer):
    name = STAGE
    description = "CLIP class relevance, inter-class separability, their combination Q, zero-shot agreement, nearest-neighbour diversity"
    columns = COLUMNS

    def score(self, ctx, pool, data):
        from .scoring import score_pool

        return score_pool(ctx, pool, data)


class ClipSelector(Selector):
    name = STAGE
    description = "keep IPC per class: the top β·IPC by CLIP score, then a diversity-aware greedy pick (mmr, facility, kcenter)"
    mode = "select"

    def select(self, ctx, pool, data, ipc):
        from .select import select_pool

        return select_pool(ctx, pool, data, ipc)
