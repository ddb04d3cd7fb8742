"""The collectives a stage needs under torchrun, each a no-op in a one-process run.

Work split by index (``Dist.mine``: i ≡ rank mod W) comes back in index order with
``gather_by_index``; gradients and sums are all-reduced in one call (``all_reduce_``, coalesced);
``broadcast_object`` hands rank 0's answer to everyone. ``sum_across_ranks`` and
``reduce_gradient`` are the two autograd halves of a data-parallel computation inside a graph
(Megatron's g and f): the first sums a partial result in the forward pass and passes the
gradient through, the second passes a replicated input through and sums the partial gradients
that come back to it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ddcore.distributed import Dist


def all_reduce_(tensors: Sequence[torch.Tensor], d: Dist, average: bool = False) -> None:
    """Sum (or average) ``tensors`` over the ranks, in place, in one collective."""
    if not d.active or not tensors:
        return
    import torch.distributed as dist

    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    if average:
        flat /= d.world_size
    for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.data.copy_(part.view_as(t))


def all_gather_objects(obj: Any, d: Dist) -> list[Any]:
    """Every rank's ``obj``, in rank order (small things: accuracies, counts)."""
    if not d.active:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, d: Dist, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (a choice that must be the same everywhere)."""
    if not d.active:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_rows(rows: torch.Tensor, d: Dist) -> list[torch.Tensor]:
    """Each rank's ``rows`` (any number, same trailing shape and dtype), in rank order, on every rank."""
    if not d.active:
        return [rows]
    import torch.distributed as dist

    device = torch.device(f"cuda:{d.local_rank}") if d.backend == "nccl" else torch.device("cpu")
    sizes = all_gather_objects(len(rows), d)
    padded = torch.zeros((max(sizes), *rows.shape[1:]), dtype=rows.dtype, device=device)
    padded[:len(rows)] = rows.to(device)
    parts = [torch.empty_like(padded) for _ in range(d.world_size)]
    dist.all_gather(parts, padded)
    return [p[:n].to(rows.device) for p, n in zip(parts, sizes)]


def gather_by_index(mine: torch.Tensor, n: int, d: Dist) -> torch.Tensor:
    """Rows computed for ``d.mine(n)`` on every rank, put back in index order 0 … n−1."""
    if not d.active:
        return mine
    parts = gather_rows(mine, d)
    out = torch.empty((n, *mine.shape[1:]), dtype=mine.dtype, device=mine.device)
    for rank, part in enumerate(parts):
        out[list(range(rank, n, d.world_size))] = part
    return out


class _SumAcrossRanks(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, d):
        import torch.distributed as dist

        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _ReduceGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, d):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad, None


def sum_across_ranks(x: torch.Tensor, d: Dist) -> torch.Tensor:
    """Σ over ranks of ``x`` in the forward pass; the gradient passes through unchanged (what comes
    after is the same on every rank)."""
    return _SumAcrossRanks.apply(x, d) if d.active else x


def reduce_gradient(x: torch.Tensor, d: Dist) -> torch.Tensor:
    """``x`` unchanged in the forward pass (it is the same on every rank); its gradient is summed over
    the ranks (each rank's part of the computation after it contributes a share)."""
    return _ReduceGradient.apply(x, d) if d.active else x
