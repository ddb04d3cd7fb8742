"""Common Pattern Dropout (EDF §3.2): drop the matching terms the student already fits best.

The terms are per scalar parameter: e_i = (student_N,i − expert_{s+M},i)² over
d_i = (expert_s,i − expert_{s+M},i)². CPD keeps the P − ⌊ρ·P⌋ largest e_i and sums numerator and
denominator over the kept indices only: L = Σ_S e_i / Σ_S d_i. ρ = 0 keeps everything (DATM).
"""

from __future__ import annotations

import torch


def cpd_weights(errors: torch.Tensor, ratio: float) -> torch.Tensor | None:
    """0/1 weights that drop the ⌊ratio·P⌋ smallest ``errors``; None when nothing is dropped."""
    drop = int(ratio * errors.numel())
    if drop <= 0:
        return None
    weights = torch.ones_like(errors)
    lowest = torch.topk(errors.detach().flatten(), drop, largest=False).indices
    weights.view(-1)[lowest] = 0
    return weights
