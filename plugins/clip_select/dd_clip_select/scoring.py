"""The scoring stage: CLIP's three semantic scores of every pool image, as named columns.

    clip_relevance          R_i = cos(v_i, t_{y_i})
    clip_separability       S_i = margin to the best other class (text prompts, or class mean images)
    clip_quality            Q_i = α·R̂_i + (1 − α)·Ŝ_i, R̂ and Ŝ min-max normalised within the class (stage 1 ranks by it)
    clip_zero_shot_correct  1 when argmax_k cos(v_i, t_k) = y_i
    clip_diversity          1 − the cosine to the nearest other image of its class in the pool (the static
                            counterpart of stage 2's dynamic diversity, which the selection records per pick)

Without CLIP (diversity-only) the semantic columns are NaN: nothing pretends to be a CLIP score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .components import COLUMNS, STAGE
from .scores import minmax, prototype_separability, relevance, separability

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import DistilledSet, RealData, RunContext



def score_pool(ctx: RunContext, pool: DistilledSet, data: RealData) -> dict[str, torch.Tensor]:
    from .embedding import embed_pool

    opts = ctx.options_for(STAGE)
    space = embed_pool(ctx, pool, data, opts)
    v, y = space.images, pool.classes
    cols = {"clip_diversity": nearest_neighbour_diversity(v, y)}
    if not space.semantic:
        nan = torch.full((len(pool),), float("nan"))
        ctx.log(f"no CLIP scores: {space.description}")
        return {**cols, **{c: nan for c in COLUMNS if c != "clip_diversity"}}
    r = relevance(v, y, space.classes)
    s = separability(v, y, space.classes) if opts.separability == "text" else prototype_separability(v, y, pool.num_classes)
    correct = ((v @ space.classes.T).argmax(1) == y).float()
    ctx.log(f"CLIP zero-shot agrees with {correct.mean():.1%} of the pool's labels ({space.source} encoder)")
    return {**cols, "clip_relevance": r, "clip_separability": s, "clip_quality": quality(r, s, y, opts.alpha),
            "clip_zero_shot_correct": correct}


def quality(r: torch.Tensor, s: torch.Tensor, classes: torch.Tensor, alpha: float) -> torch.Tensor:
    """Q = α·R̂ + (1 − α)·Ŝ with both min-max normalised within each class."""
    q = torch.empty_like(r)
    for c in classes.unique():
        m = classes == c
        q[m] = alpha * minmax(r[m]) + (1 - alpha) * minmax(s[m])
    return q


def nearest_neighbour_diversity(v: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """1 − max cosine to another image of the same class (1 for a class of one image)."""
    out = torch.ones(len(v), dtype=v.dtype)
    for c in classes.unique():
        idx = torch.nonzero(classes == c, as_tuple=False).flatten()
        if len(idx) > 1:
            sims = v[idx] @ v[idx].T
            sims.fill_diagonal_(float("-inf"))
            out[idx] = 1 - sims.max(1).values
    return out
