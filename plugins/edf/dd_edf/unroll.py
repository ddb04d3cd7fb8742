"""The student's N differentiable SGD steps, three ways (``edf.unroll``).

θ̂_{n+1} = θ̂_n − α g_n,  g_n = ∇_θ CE(f(DSA_n(X_{B_n}); θ̂_n), Y_{B_n}),  n = 0 … N−1.

* ``full`` keeps the whole graph of all N steps (MTT's implementation): activation memory grows
  with ``syn_steps × batch_syn``.
* ``checkpoint`` is exact — the same gradient as ``full`` — with memory independent of N: the
  forward pass keeps only θ̂_n (P floats a step), the batch indices and the DSA generator's state
  before each step; the backward pass walks n = N−1 … 0, recomputes step n with its graph and
  propagates v_n = v_{n+1} ∂θ̂_{n+1}/∂θ̂_n (a Hessian-vector product), adding step n's share of the
  gradient to X, Y and α. One step's graph is alive at a time; each step runs forward twice.
* ``tesla`` is TESLA's constant-memory gradient (Cui et al., ICML 2023): the same backward walk
  but v stays v_N = ∂L/∂θ̂_N, i.e. θ̂_n is treated as independent of earlier batches, which drops
  the Hessian cross-terms: dL/dX ≈ −α Σ_n (∂g_n/∂X)ᵀ v_N, dL/dα ≈ −Σ_n g_n·v_N. It is not MTT's
  gradient (``bench/unroll_memory.py`` measures the gap). TESLA's released code accumulates the
  per-step gradients into a tuple and doubles the tuple instead of summing gradients (tesla
  issue #5); here the per-step gradients are summed.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ddcore import dsa, soft_cross_entropy

MODES = ("full", "checkpoint", "tesla")


def minibatches(n_images: int, steps: int, batch: int, generator: torch.Generator, device) -> Iterator[torch.Tensor]:
    """The index of every inner step's minibatch: epochs of a random order, as MTT draws them. Lazy:
    each step's DSA draws come between its batch's and the next one's, as they always have."""
    order, pos = torch.randperm(n_images, generator=generator), 0
    for _ in range(steps):
        if pos >= len(order):
            order, pos = torch.randperm(n_images, generator=generator), 0
        yield order[pos:pos + batch].to(device)
        pos += batch


def _step_grad(fmodel, theta, images, labels, idx, generator, soft: bool, augment: Callable, create_graph: bool):
    out = fmodel(augment(images[idx], generator), theta)
    ce = soft_cross_entropy(out, labels[idx]) if soft else F.cross_entropy(out, labels[idx])
    (grad,) = torch.autograd.grad(ce, theta, create_graph=create_graph)
    return grad


def unroll(fmodel, start: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, step_size: torch.Tensor,
           steps: int, batch: int, generator: torch.Generator, soft: bool, mode: str = "full",
           augment: Callable = dsa) -> torch.Tensor:
    """θ̂_N after ``steps`` differentiable SGD steps from ``start``; gradients flow to ``images``,
    soft ``labels`` and ``step_size`` as ``mode`` says. All modes draw the same batches and
    augmentations from ``generator``, so they return the same θ̂_N."""
    batches = minibatches(len(images), steps, batch, generator, images.device)
    if mode == "full":
        theta = start
        for idx in batches:
            theta = theta - step_size * _step_grad(fmodel, theta, images, labels, idx, generator, soft, augment, True)
        return theta
    if mode not in MODES:
        raise ValueError(f"unroll mode {mode!r} is not one of {', '.join(MODES)}")
    return _ConstantMemoryUnroll.apply(start, images, labels, step_size, fmodel, batches, generator, soft, augment, mode)


class _ConstantMemoryUnroll(torch.autograd.Function):
    """``checkpoint`` and ``tesla``: keep θ̂_n and the generator states, recompute one step at a time."""

    @staticmethod
    def forward(ctx, start, images, labels, step_size, fmodel, batches, generator, soft, augment, mode):
        thetas, states, drawn = [], [], []
        theta = start.detach()
        alpha = step_size.detach()
        with torch.enable_grad():
            for idx in batches:
                thetas.append(theta)
                states.append(generator.get_state())
                drawn.append(idx)
                leaf = theta.requires_grad_(True)
                grad = _step_grad(fmodel, leaf, images.detach(), labels.detach(), idx, generator, soft, augment, False)
                theta = (leaf - alpha * grad).detach()
        ctx.save_for_backward(images, labels, step_size)
        ctx.thetas, ctx.states, ctx.batches = thetas, states, drawn
        ctx.fmodel, ctx.soft, ctx.augment, ctx.mode, ctx.device = fmodel, soft, augment, mode, generator.device
        return theta

    @staticmethod
    def backward(ctx, v):
        images, labels, step_size = ctx.saved_tensors
        learn_labels = ctx.soft and labels.is_floating_point()
        grad_x, grad_a = torch.zeros_like(images), torch.zeros_like(step_size)
        grad_y = torch.zeros_like(labels) if learn_labels else None
        for n in reversed(range(len(ctx.batches))):
            generator = torch.Generator(device=ctx.device)
            generator.set_state(ctx.states[n])
            with torch.enable_grad():
                theta = ctx.thetas[n].detach().requires_grad_(True)
                x = images.detach().requires_grad_(True)
                y = labels.detach().requires_grad_(True) if learn_labels else labels
                alpha = step_size.detach().requires_grad_(True)
                grad = _step_grad(ctx.fmodel, theta, x, y, ctx.batches[n], generator, ctx.soft, ctx.augment, True)
                after = theta - alpha * grad
                inputs = [theta, x, alpha] + ([y] if learn_labels else [])
                parts = torch.autograd.grad(after, inputs, grad_outputs=v, allow_unused=True)
            if ctx.mode == "checkpoint":
                v = parts[0]
            grad_x += parts[1] if parts[1] is not None else 0
            grad_a += parts[2]
            if learn_labels and parts[3] is not None:
                grad_y += parts[3]
        return v, grad_x, grad_y, grad_a, None, None, None, None, None, None


def step_graph_bytes(fmodel, start, images, labels, step_size, batch: int, soft: bool, augment: Callable = dsa) -> int:
    """Bytes the autograd graph of one differentiable step keeps (measured on a throwaway draw)."""
    saved = 0

    def pack(t: torch.Tensor):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    probe = torch.Generator(device="cpu").manual_seed(0)
    idx = torch.arange(min(batch, len(images)), device=images.device)
    theta = start.detach().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        after = theta - step_size * _step_grad(fmodel, theta, images, labels, idx, probe, soft, augment, True)
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
