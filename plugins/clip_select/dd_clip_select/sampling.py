"""Two-stage selection within one class (research/clip_select.md §1.4–1.5, our reconstruction).

Stage 1 keeps the top ⌈β·IPC⌉ images by Q = α·R̂ + (1 − α)·Ŝ (R̂, Ŝ min-max normalised within
the class), optionally only those CLIP classifies correctly (falling back to all when fewer than
IPC remain). Stage 2 picks IPC of those greedily:

* ``mmr``: start from argmax Q, then argmax λ·Q + (1 − λ)·D(i | S) (λ = 1: top-IPC by Q;
  λ = 0: farthest-point selection), D optionally rescaled to [0, 1] at each pick;
* ``facility``: lazy greedy on F(S) = Σ_i w_i · max_{j ∈ S} (1 + cos(v_i, v_j)) / 2 (semantic
  coverage of the candidates; w = Q when weighted, else 1);
* ``kcenter``: farthest-point selection (greedy k-center) from argmax Q.

Every function takes one class's tensors and returns positions into them.
"""

from __future__ import annotations

import heapq
import math

import torch

from .scores import diversity


def stage_one(quality: torch.Tensor, ipc: int, beta: float, zero_shot_correct: torch.Tensor | None = None) -> torch.Tensor:
    """Positions of the candidate set: the top ⌈β·IPC⌉ by quality (capped at the class size)."""
    keep = torch.arange(len(quality))
    if zero_shot_correct is not None and int(zero_shot_correct.sum()) >= ipc:
        keep = keep[zero_shot_correct]
    k = min(len(keep), max(ipc, math.ceil(beta * ipc)))
    return keep[quality[keep].argsort(descending=True, stable=True)[:k]]


def mmr(emb: torch.Tensor, quality: torch.Tensor, ipc: int, lam: float, rescale: bool = False) -> list[int]:
    """Maximal marginal relevance: trade quality against distance to what is already chosen.

    ``rescale`` divides the diversity term by its largest value among the remaining images at
    each pick, so it trades against Q ∈ [0, 1] on the same scale whatever the encoder's spread
    (a CLIP fitted on class captions puts a class's images within cosine 0.98 of each other).
    """
    chosen = [int(quality.argmax())]
    nearest = emb @ emb[chosen[0]]  # max cosine to the selection, kept incrementally
    while len(chosen) < min(ipc, len(emb)):
        spread = 1 - nearest
        if rescale:
            rest = spread.clone()
            rest[chosen] = 0
            spread = spread / rest.max().clamp_min(1e-12)
        gain = lam * quality + (1 - lam) * spread
        gain[chosen] = float("-inf")
        i = int(gain.argmax())
        chosen.append(i)
        nearest = torch.maximum(nearest, emb @ emb[i])
    return chosen


def kcenter(emb: torch.Tensor, quality: torch.Tensor, ipc: int) -> list[int]:
    """Greedy k-center: each pick is the image farthest from the current selection."""
    chosen = [int(quality.argmax())]
    while len(chosen) < min(ipc, len(emb)):
        d = diversity(emb, emb[chosen])
        d[chosen] = float("-inf")
        chosen.append(int(d.argmax()))
    return chosen


def coverage(emb: torch.Tensor, chosen: list[int], weights: torch.Tensor | None = None) -> float:
    """F(S) = Σ_i w_i · max_{j ∈ S} sim(i, j) with sim = (1 + cos) / 2 ∈ [0, 1], and F(∅) = 0."""
    if not chosen:
        return 0.0
    best = ((1 + emb @ emb[chosen].T) / 2).max(1).values
    return float(best.sum() if weights is None else (weights * best).sum())


def facility_location(emb: torch.Tensor, ipc: int, weights: torch.Tensor | None = None) -> list[int]:
    """Lazy greedy maximisation of ``coverage`` (monotone submodular: the (1 − 1/e) guarantee).

    Similarities are shifted to (1 + cos) / 2 so that F(∅) = 0 and every gain is ≥ 0.
    """
    sims = (1 + emb @ emb.T) / 2
    w = torch.ones(len(emb), dtype=emb.dtype) if weights is None else weights
    covered = torch.zeros(len(emb), dtype=emb.dtype)  # each point's best similarity to the selection

    def gain(j: int) -> float:
        return float((w * (torch.maximum(covered, sims[:, j]) - covered)).sum())

    heap = [(-gain(j), j) for j in range(len(emb))]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < min(ipc, len(emb)):
        _, j = heapq.heappop(heap)
        fresh = gain(j)  # gains only shrink as the selection grows, so a stale bound is an upper bound
        if not heap or fresh >= -heap[0][0] - 1e-12:
            chosen.append(j)
            covered = torch.maximum(covered, sims[:, j])
        else:
            heapq.heappush(heap, (-fresh, j))
    return chosen
