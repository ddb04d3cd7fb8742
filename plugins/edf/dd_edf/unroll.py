"""The student's N differentiable SGD steps, three ways (``edf.unroll``).

θ̂_{n+1} = θ̂_n − α g_n,  g_n = ∇_θ CE(f(DSA_n(X_{B_n}); θ̂_n), Y_{B_n}),  n = 0 … N−1.

* ``full`` keeps the whole graph of all N steps (MTT's implementation): activation memory grows
  with ``syn_steps × batch_syn``.
* ``checkpoint`` is exact — the same gradient as ``full`` — with memory independent of N: the
  forward pass keeps only θ̂_n (P floats a step), the batch indices and the DSA generators' state
  before each step; the backward pass walks n = N−1 … 0, recomputes step n with its graph and
  propagates v_n = v_{n+1} ∂θ̂_{n+1}/∂θ̂_n (a Hessian-vector product), adding step n's share of the
  gradient to X, Y and α. One step's graph is alive at a time; each step runs forward twice.
* ``tesla`` is TESLA's constant-memory gradient (Cui et al., ICML 2023): the same backward walk
  but v stays v_N = ∂L/∂θ̂_N, i.e. θ̂_n is treated as independent of earlier batches, which drops
  the Hessian cross-terms: dL/dX ≈ −α Σ_n (∂g_n/∂X)ᵀ v_N, dL/dα ≈ −Σ_n g_n·v_N. It is not MTT's
  gradient (``bench/unroll_memory.py`` measures the gap). TESLA's released code accumulates the
  per-step gradients into a tuple and doubles the tuple instead of summing gradients (tesla
  issue #5); here the per-step gradients are summed.

Under torchrun (``dist``) every mode is batch-parallel: each rank draws the same minibatch and
augmentations, runs the student on its share of the rows (r, r + W, …), and the step's gradient
is the sum of the ranks' shares (``sum_across_ranks``); the gradient flowing back into θ̂_n from
the ranks' shares is summed too (``reduce_gradient``), so θ̂_N and the gradient to α are exactly
the one-process ones and the image/label gradients are each rank's rows, summed by the caller.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ddcore import Draws, autocast, dsa, reduce_gradient, soft_cross_entropy, sum_across_ranks

MODES = ("full", "checkpoint", "tesla")


def minibatches(n_images: int, steps: int, batch: int, draws: Draws, device) -> Iterator[torch.Tensor]:
    """The index of every inner step's minibatch: epochs of a random order, as MTT draws them. Lazy:
    each step's DSA draws come between its batch's and the next one's, as they always have."""
    order, pos = draws.permutation(n_images), 0
    for _ in range(steps):
        if pos >= len(order):
            order, pos = draws.permutation(n_images), 0
        yield order[pos:pos + batch].to(device)
        pos += batch


def _step_grad(fmodel, theta, images, labels, idx, generator, soft: bool, augment: Callable, create_graph: bool,
               precision: str = "fp32", dist=None):
    x, y = augment(images[idx], generator), labels[idx]
    share = dist is not None and dist.active
    if share:  # every rank drew the whole minibatch's augmentation; it runs its rows
        x, y, theta = x[dist.rank::dist.world_size], y[dist.rank::dist.world_size], reduce_gradient(theta, dist)
    with autocast(precision, theta.device):
        out = fmodel(x, theta)
    if out.dtype == torch.bfloat16:
        out = out.float()
    ce = soft_cross_entropy(out, y) if soft else F.cross_entropy(out, y)
    if share:
        ce = ce * (len(y) / len(idx))  # this rank's share of the minibatch mean
    (grad,) = torch.autograd.grad(ce, theta, create_graph=create_graph)
    return sum_across_ranks(grad, dist) if share else grad


def unroll(fmodel, start: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, step_size: torch.Tensor,
           steps: int, batch: int, generator: torch.Generator | Draws, soft: bool, mode: str = "full",
           augment: Callable = dsa, precision: str = "fp32", dist=None) -> torch.Tensor:
    """θ̂_N after ``steps`` differentiable SGD steps from ``start``; gradients flow to ``images``,
    soft ``labels`` and ``step_size`` as ``mode`` says. All modes draw the same batches and
    augmentations from ``generator``, so they return the same θ̂_N. ``precision="bf16"`` runs the
    student's forward passes under autocast; ``dist`` splits every minibatch across the ranks."""
    draws = generator if isinstance(generator, Draws) else Draws(generator)
    batches = minibatches(len(images), steps, batch, draws, images.device)
    if mode == "full":
        theta = start
        for idx in batches:
            theta = theta - step_size * _step_grad(fmodel, theta, images, labels, idx, draws, soft, augment, True, precision, dist)
        return theta
    if mode not in MODES:
        raise ValueError(f"unroll mode {mode!r} is not one of {', '.join(MODES)}")
    return _ConstantMemoryUnroll.apply(start, images, labels, step_size, fmodel, batches, draws, soft, augment, mode, precision,
                                       dist)


class _ConstantMemoryUnroll(torch.autograd.Function):
    """``checkpoint`` and ``tesla``: keep θ̂_n and the generator states, recompute one step at a time."""

    @staticmethod
    def forward(ctx, start, images, labels, step_size, fmodel, batches, draws, soft, augment, mode, precision, dist):
        thetas, states, drawn = [], [], []
        theta = start.detach()
        alpha = step_size.detach()
        with torch.enable_grad():
            for idx in batches:
                thetas.append(theta)
                states.append(draws.get_state())
                drawn.append(idx)
                leaf = theta.requires_grad_(True)
                grad = _step_grad(fmodel, leaf, images.detach(), labels.detach(), idx, draws, soft, augment, False, precision, dist)
                theta = (leaf - alpha * grad).detach()
        ctx.save_for_backward(images, labels, step_size)
        ctx.thetas, ctx.states, ctx.batches = thetas, states, drawn
        ctx.fmodel, ctx.soft, ctx.augment, ctx.mode, ctx.draws, ctx.precision = fmodel, soft, augment, mode, draws, precision
        ctx.dist = dist
        return theta

    @staticmethod
    def backward(ctx, v):
        images, labels, step_size = ctx.saved_tensors
        learn_labels = ctx.soft and labels.is_floating_point()
        grad_x, grad_a = torch.zeros_like(images), torch.zeros_like(step_size)
        grad_y = torch.zeros_like(labels) if learn_labels else None
        for n in reversed(range(len(ctx.batches))):
            replay = ctx.draws.replay(ctx.states[n])
            with torch.enable_grad():
                theta = ctx.thetas[n].detach().requires_grad_(True)
                x = images.detach().requires_grad_(True)
                y = labels.detach().requires_grad_(True) if learn_labels else labels
                alpha = step_size.detach().requires_grad_(True)
                grad = _step_grad(ctx.fmodel, theta, x, y, ctx.batches[n], replay, ctx.soft, ctx.augment, True, ctx.precision,
                                  ctx.dist)
                after = theta - alpha * grad
                inputs = [theta, x, alpha] + ([y] if learn_labels else [])
                parts = torch.autograd.grad(after, inputs, grad_outputs=v, allow_unused=True)
            if ctx.mode == "checkpoint":
                v = parts[0]
            grad_x += parts[1] if parts[1] is not None else 0
            grad_a += parts[2]
            if learn_labels and parts[3] is not None:
                grad_y += parts[3]
        return v, grad_x, grad_y, grad_a, None, None, None, None, None, None, None, None


def step_graph_bytes(fmodel, start, images, labels, step_size, batch: int, soft: bool, augment: Callable = dsa,
                     dist=None) -> int:
    """Bytes the autograd graph of one differentiable step keeps on this rank (measured on a throwaway draw)."""
    saved = 0

    def pack(t: torch.Tensor):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    probe = torch.Generator(device="cpu").manual_seed(0)
    idx = torch.arange(min(batch, len(images)), device=images.device)
    theta = start.detach().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        after = theta - step_size * _step_grad(fmodel, theta, images, labels, idx, probe, soft, augment, True, dist=dist)
    del after
    return saved


def device_bytes(device: torch.device) -> int:
    """The memory of the device the unroll runs on (CUDA: the GPU's; CPU: the machine's RAM). Its total,
    not what is free now, so a run (and its resumption) chooses the same way every time on one machine."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    import os

    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def choose_mode(per_step_bytes: int, steps: int, memory_bytes: int, share: float = 0.5) -> tuple[str, str]:
    """``auto``: ``full`` while its graph (N steps) fits in ``share`` of the device's memory, else ``checkpoint``."""
    need = per_step_bytes * steps
    verdict = "full" if need <= share * memory_bytes else "checkpoint"
    return verdict, (f"unroll {verdict}: the full graph of {steps} steps needs about {need / 2**30:.2f} GiB; "
                     f"{share:.0%} of the device's {memory_bytes / 2**30:.1f} GiB is {share * memory_bytes / 2**30:.1f} GiB")
