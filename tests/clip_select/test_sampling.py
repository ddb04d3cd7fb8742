"""clip_select's scores and sampling on hand-made embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dd_clip_select.sampling import coverage, facility_location, kcenter, mmr, stage_one
from dd_clip_select.scores import class_prototypes, diversity, minmax, prototype_separability, relevance, separability


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=1)


def test_each_score_equals_its_formula():
    text = unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
    v = unit([3, 1, 0], [1, 1, 1], [0, 1, 2])
    y = torch.tensor([0, 2, 1])
    cos = v @ text.T
    assert torch.allclose(relevance(v, y, text), torch.stack([cos[0, 0], cos[1, 2], cos[2, 1]]))
    expected = torch.stack([cos[0, 0] - max(cos[0, 1], cos[0, 2]), cos[1, 2] - max(cos[1, 0], cos[1, 1]), cos[2, 1] - max(cos[2, 0], cos[2, 2])])
    assert torch.allclose(separability(v, y, text), expected)
    assert separability(v, y, text)[2] < 0  # CLIP prefers class 2 for image 2, labelled 1
    mu = class_prototypes(v, y, 3)
    assert torch.allclose(mu[0], v[0]) and torch.allclose(mu.norm(dim=1), torch.ones(3, dtype=torch.float64))
    pc = v @ mu.T
    assert torch.allclose(prototype_separability(v, y, 3)[0], pc[0, 0] - max(pc[0, 1], pc[0, 2]))
    assert torch.allclose(diversity(v, v[:1]), 1 - (v @ v[0]))
    assert torch.equal(diversity(v, v[:0]), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(minmax(torch.tensor([2.0, 4.0, 3.0])), torch.tensor([0.0, 1.0, 0.5]))


def test_stage_one_keeps_the_top_beta_ipc_and_falls_back_when_the_filter_leaves_too_few():
    q = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.3, 0.8])
    assert stage_one(q, ipc=2, beta=1.5).tolist() == [1, 5, 3]  # ⌈1.5·2⌉ = 3
    assert stage_one(q, ipc=2, beta=10).tolist() == [1, 5, 3, 2, 4, 0]  # capped at the class size
    correct = torch.tensor([True, False, True, True, False, False])
    assert stage_one(q, ipc=2, beta=1.5, zero_shot_correct=correct).tolist() == [3, 2, 0]
    few = torch.tensor([False, False, True, False, False, False])
    assert stage_one(q, ipc=2, beta=1.5, zero_shot_correct=few).tolist() == [1, 5, 3]  # 1 < IPC: fallback


def _cloud(n=40, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1), torch.rand(n, generator=g, dtype=torch.float64)


def test_mmr_lambda_one_is_top_k_and_lambda_zero_is_farthest_point():
    emb, q = _cloud()
    assert mmr(emb, q, 7, lam=1.0) == q.argsort(descending=True)[:7].tolist()
    assert mmr(emb, q, 7, lam=0.0) == kcenter(emb, q, 7)
    # farthest-point by hand: each pick maximises the distance to its nearest chosen image
    chosen = [int(q.argmax())]
    for _ in range(6):
        d = 1 - (emb @ emb[chosen].T).max(1).values
        d[chosen] = -1
        chosen.append(int(d.argmax()))
    assert kcenter(emb, q, 7) == chosen


def test_rescaled_mmr_keeps_the_extremes_and_weighs_a_tight_cloud_like_a_wide_one():
    emb, q = _cloud()
    for lam in (0.0, 1.0):
        assert mmr(emb, q, 7, lam, rescale=True) == mmr(emb, q, 7, lam)
    # shrink the cloud toward one direction: raw diversity becomes tiny and MMR degenerates to top-k by Q,
    # rescaled diversity picks as it did on the wide cloud
    tight = F.normalize(emb * 0.02 + F.normalize(torch.ones(emb.shape[1], dtype=emb.dtype), dim=0), dim=1)
    assert mmr(tight, q, 7, 0.5) == q.argsort(descending=True)[:7].tolist()
    assert mmr(tight, q, 7, 0.5, rescale=True) != q.argsort(descending=True)[:7].tolist()


def test_facility_location_never_decreases_coverage_and_each_pick_is_greedy():
    emb, q = _cloud(seed=1)
    chosen = facility_location(emb, 10)
    values = [coverage(emb, chosen[:k]) for k in range(11)]
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:])) and values[0] == 0
    for k in range(10):  # every lazy pick has the largest gain any plain-greedy step could get (ties allowed)
        best = max(coverage(emb, chosen[:k] + [j]) for j in range(len(emb)) if j not in chosen[:k])
        assert math.isclose(values[k + 1], best, rel_tol=0, abs_tol=1e-9)
    weighted = facility_location(emb, 10, weights=q)
    assert len(set(weighted)) == 10 and coverage(emb, weighted, q) >= coverage(emb, chosen, q) - 1e-9


def test_selections_have_exactly_ipc_distinct_items():
    emb, q = _cloud(n=12)
    for pick in (mmr(emb, q, 5, 0.5), kcenter(emb, q, 5), facility_location(emb, 5)):
        assert len(pick) == 5 and len(set(pick)) == 5
    assert math.isclose(coverage(emb, list(range(12))), float(((1 + emb @ emb.T) / 2).max(1).values.sum()))
