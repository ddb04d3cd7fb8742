"""Paired differences between evaluations that share their networks' seeds.

``dd eval``'s network k starts from the same initialisation, batch order and DSA draws for every
set evaluated with the same protocol (``eval.seed``), so the K accuracies of two sets pair up:
d_k = b_k − a_k. The mean of d with a Student-t interval says whether a difference is there, far
more sharply than two independent mean ± std (the networks' common luck cancels).
"""

from __future__ import annotations

import math


def paired_difference(a: list[float], b: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean of b − a, low, high) of the two-sided ``level`` t interval; the interval is NaN for K < 2."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired differences need the same number of networks on both sides, got {len(a)} and {len(b)}")
    d = [y - x for x, y in zip(a, b)]
    k = len(d)
    mean = sum(d) / k
    if k < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t

    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (k - 1))
    half = t.ppf(0.5 + level / 2, k - 1) * sd / math.sqrt(k)
    return mean, mean - half, mean + half


PAIRING_KEYS = ("num_nets", "seed", "model", "epochs", "batch_size", "dsa_strategy", "device")


def paired(first: dict, other: dict) -> bool:
    """Whether two results' networks pair up: the same evaluator, dataset and protocol (seeds included)."""
    p, q = first.get("protocol") or {}, other.get("protocol") or {}
    return (first.get("evaluator") == other.get("evaluator") and first.get("dataset") == other.get("dataset")
            and all(p.get(k) == q.get(k) for k in PAIRING_KEYS))


def format_difference(diff: tuple[float, float, float]) -> str:
    mean, low, high = (round(v, 2) + 0.0 for v in diff)  # + 0.0: a rounding -0.00 prints as +0.00
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]" if not math.isnan(low) else f"{mean:+.2f}"
