"""The selection stage: IPC images per class from the scored pool (``sampling.py`` per class).

With CLIP: stage 1 keeps the top ⌈β·IPC⌉ by ``clip_quality`` (optionally only zero-shot-correct
images), stage 2 picks IPC of them by ``mode``. Diversity-only (no CLIP): every image is a
candidate and greedy k-center picks IPC, starting from the image nearest the class mean.

Adds three columns to the chosen images — ``clip_pick`` (pick order within the class),
``clip_diversity_at_pick`` (stage 2's dynamic diversity 1 − max cos to the images picked before
it) and ``clip_pool_position`` (row in the scored pool, which ``dd clip_select explain`` uses) —
and what ran to the manifest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .sampling import facility_location, kcenter, mmr, stage_one
from .components import STAGE

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import DistilledSet, RealData, RunContext

    from .options import ClipSelectOptions


def select_pool(ctx: RunContext, pool: DistilledSet, data: RealData, ipc: int) -> DistilledSet:
    from .embedding import embed_pool

    opts = ctx.options_for(STAGE)
    if "clip_quality" not in pool.columns:  # the scorer of this stage runs first in a pipeline; not when called alone
        pool = ctx.score(STAGE, pool, data)
    space = embed_pool(ctx, pool, data, opts)
    picks, candidates = [], []
    for c in range(pool.num_classes):
        idx = pool.indices_of_class(c)
        chosen, n_candidates = select_class(space.images[idx], pool.columns, idx, ipc, opts, space.semantic)
        picks.append(idx[chosen])
        candidates.append(n_candidates)
    keep = torch.cat(picks)
    at_pick = torch.cat([diversity_at_pick(space.images[p]) for p in picks])
    order = torch.cat([torch.arange(len(p)) for p in picks])
    mode = opts.mode if space.semantic else "kcenter (diversity-only)"
    ctx.log(f"kept {ipc} of {len(pool) // max(1, pool.num_classes)} per class: stage 1 candidates {min(candidates)}–{max(candidates)} "
            f"per class, stage 2 {mode}; encoder: {space.description}")
    facts = {**pool.facts, STAGE: {
        "encoder": space.description, "encoder_source": space.source, "stage2": mode,
        "candidates_per_class": candidates, "pool_per_class": pool.per_class_counts(), "ipc": ipc,
    }}
    chosen = pool.subset(keep).with_columns(clip_pick=order, clip_diversity_at_pick=at_pick, clip_pool_position=keep)
    return replace(chosen, facts=facts)


def select_class(emb: torch.Tensor, columns: dict, idx: torch.Tensor, ipc: int, opts: ClipSelectOptions,
                 semantic: bool) -> tuple[torch.Tensor, int]:
    """Positions (into the class) of the chosen images, in pick order, and the stage-1 candidate count."""
    if not semantic:
        centrality = emb @ F.normalize(emb.mean(0), dim=0)
        return torch.tensor(kcenter(emb, centrality, ipc), dtype=torch.long), len(emb)
    q = columns["clip_quality"][idx]
    correct = columns["clip_zero_shot_correct"][idx].bool() if opts.zero_shot_filter else None
    cand = stage_one(q, ipc, opts.beta, correct)
    e, qc = emb[cand], q[cand]
    if opts.mode == "mmr":
        pos = mmr(e, qc, ipc, opts.lam, opts.rescale_diversity)
    elif opts.mode == "facility":
        pos = facility_location(e, ipc, qc if opts.weighted_coverage else None)
    else:
        pos = kcenter(e, qc, ipc)
    return cand[torch.tensor(pos, dtype=torch.long)], len(cand)


def diversity_at_pick(emb: torch.Tensor) -> torch.Tensor:
    """For images in pick order: 1 − max cosine to the ones picked before (1 for the first)."""
    out = torch.ones(len(emb), dtype=emb.dtype)
    for t in range(1, len(emb)):
        out[t] = 1 - (emb[:t] @ emb[t]).max()
    return out
