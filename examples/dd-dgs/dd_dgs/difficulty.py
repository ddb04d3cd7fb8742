"""DGS's math on one class's difficulty scores (research/clip_select.md §4.1).

    d(x) = 1 − p(y | x)                           from a classifier trained on the real data
    d'   = log(d / lo) / log(hi / lo)             d clipped to [lo, hi]; lo, hi = the b-th smallest and
                                                  t-th largest d; floored at 1e-4 (lo = 0 → 1e-4)
    (b, t) = argmin over [0, ⌊IPC/2⌋)² of 0.5·KL(h_raw ‖ h_log) + 0.5·KL(U ‖ h_log)   on the pool
    target = the real class's histogram of d' (same b, t applied to the real scores), scaled to IPC
             by largest remainders; then each bin's count is drawn at random from the pool's images
             in that bin, and any shortfall at random from the rest.
"""

from __future__ import annotations

import math

import torch

FLOOR = 1e-4


def bounds(d: torch.Tensor, b: int, t: int) -> tuple[float, float]:
    """The b-th smallest and t-th largest values (0-based)."""
    s = d.sort().values
    return float(s[min(b, len(s) - 1)]), float(s[max(0, len(s) - 1 - t)])


def log_transform(d: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Map clipped difficulty to [0, 1] on a log scale (spreads the many easy images apart)."""
    lo = max(lo, FLOOR)
    if hi <= lo:
        return torch.full_like(d, FLOOR)
    x = d.clamp(lo, hi)
    return (torch.log(x / lo) / math.log(hi / lo)).clamp_min(FLOOR)


def histogram(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Counts in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    idx = (x.clamp(0, 1) * bins).long().clamp_max(bins - 1)
    return torch.bincount(idx, minlength=bins).double()


def kl(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-8) -> float:
    p, q = p / p.sum() + eps, q / q.sum() + eps
    return float((p * (p / q).log()).sum())


def clipping_objective(d: torch.Tensor, b: int, t: int, bins: int) -> float:
    h_log = histogram(log_transform(d, *bounds(d, b, t)), bins)
    return 0.5 * kl(histogram(d, bins), h_log) + 0.5 * kl(torch.ones(bins, dtype=torch.float64), h_log)


def choose_clipping(pool_d: torch.Tensor, ipc: int, bins: int) -> tuple[int, int]:
    """(b, t) minimising the objective on the pool's scores; (0, 0) when IPC < 2."""
    grid = range(max(1, ipc // 2))
    return min(((b, t) for b in grid for t in grid), key=lambda bt: clipping_objective(pool_d, *bt, bins))


def largest_remainder(weights: torch.Tensor, n: int) -> torch.Tensor:
    """Integer counts summing to ``n`` in proportion to ``weights``."""
    share = weights / weights.sum() * n if weights.sum() > 0 else torch.full_like(weights, n / len(weights))
    counts = share.floor().long()
    for i in (share - counts).argsort(descending=True, stable=True)[: n - int(counts.sum())]:
        counts[i] += 1
    return counts


def sample_by_bins(pool_bins: torch.Tensor, counts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Positions: ``counts[k]`` random images from bin k, shortfalls filled at random from the rest."""
    chosen: list[int] = []
    for k, n in enumerate(counts.tolist()):
        members = torch.nonzero(pool_bins == k).flatten()
        chosen += members[torch.randperm(len(members), generator=generator)[:n]].tolist()
    need = int(counts.sum()) - len(chosen)
    if need > 0:
        taken = set(chosen)
        rest = torch.tensor([i for i in range(len(pool_bins)) if i not in taken], dtype=torch.long)
        chosen += rest[torch.randperm(len(rest), generator=generator)[:need]].tolist()
    return torch.tensor(chosen, dtype=torch.long)
