"""Choosing the replacement among an anomalous image's K candidates (our reconstruction of the
paper's "confidence and dissimilarity to the already-qualified images of the class").

    valid_m = argmax p(·|x̂_m) = c  and  conf_m ≥ β          conf_m = p(c|x̂_m)
    div_m   = min_{q ∈ Q_c} 1 − cos(g(x̂_m), g(q))            (1 when Q_c is empty)

``topk`` (default): the k most confident valid candidates, then the most dissimilar of them
(k = 1: pure confidence; k = K: pure diversity among valid candidates).
``weighted``: argmax over valid candidates of conf_m + λ·div_m.
No valid candidate: ``None`` (the caller applies the fallback).
"""

from __future__ import annotations

import torch


def dissimilarity(candidate_features: torch.Tensor, qualified_features: torch.Tensor) -> torch.Tensor:
    """Cosine distance of each candidate to its nearest qualified image (features L2-normalised)."""
    if len(qualified_features) == 0:
        return torch.ones(len(candidate_features))
    return (1 - candidate_features @ qualified_features.T).min(1).values


def choose_candidate(conf: torch.Tensor, valid: torch.Tensor, div: torch.Tensor, rule: str, top_k: int,
                     diversity_weight: float = 1.0) -> int | None:
    """Index of the chosen candidate, or None when none is valid."""
    ok = torch.nonzero(valid, as_tuple=False).flatten()
    if len(ok) == 0:
        return None
    if rule == "topk":
        pool = ok[conf[ok].argsort(descending=True, stable=True)[:top_k]]
        return int(pool[div[pool].argmax()])
    if rule == "weighted":
        return int(ok[(conf[ok] + diversity_weight * div[ok]).argmax()])
    raise ValueError(f"unknown selection rule {rule!r}")
