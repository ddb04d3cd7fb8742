"""K networks of one architecture trained together: the evaluation protocol's nets in one pass.

``train_classifier_batched`` is ``train_classifier`` (``training.py``) for K networks at once. Each
network keeps its own initialisation, its own training images (the random baseline draws a subset
per network), its own generator for batch order and DSA draws, and its own SGD state; the K
minibatches of a step are stacked and run through one ``torch.func.vmap`` of the network, and one
backward gives every network its own gradient (the loss is their sum). So network k ends where
its sequential run would, within float rounding (a test checks it). Networks with buffers
(BatchNorm running statistics) are not batched: ``batchable`` says so and callers train them one
after another.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .augment import dsa
from .training import TrainSettings, classification_loss, rows


def batchable(net: nn.Module) -> bool:
    """Only networks without buffers: vmap cannot update K running statistics in place."""
    return not any(True for _ in net.buffers())


def train_classifier_batched(nets: list[nn.Module], images: list[torch.Tensor], targets: list[torch.Tensor],
                             settings: TrainSettings, generators: list[torch.Generator], device: torch.device,
                             progress: Callable | None = None) -> list[nn.Module]:
    """Train ``nets[k]`` on ``images[k]``/``targets[k]`` with ``generators[k]``, all K together; returns
    the nets (trained in place, eval mode). Every images[k] must have the same length."""
    from torch.func import functional_call, stack_module_state

    sizes = {len(y) for y in targets}
    if len(sizes) != 1:
        raise ValueError(f"batched training needs the same number of images per network, got {sorted(sizes)}")
    for net in nets:
        net.to(device).train()
    params, _ = stack_module_state(nets)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    momentum = {k: None for k in params}
    xs = [rows(x, device) for x in images]
    ys = [y.to(device) for y in targets]
    base = nets[0]

    def forward(p, x):
        return functional_call(base, p, (x,))

    batched_forward = torch.func.vmap(forward)
    lr = settings.lr
    epochs = range(settings.epochs)
    for epoch in progress(epochs) if progress else epochs:
        if settings.decay_at_half and epoch == settings.epochs // 2 + 1:
            lr = settings.lr * 0.1
        orders = [torch.randperm(len(ys[0]), generator=g).to(device) for g in generators]
        for start in range(0, len(orders[0]), settings.batch_size):
            idx = [o[start:start + settings.batch_size] for o in orders]
            batch = [dsa(x(i), g, settings.dsa_strategy) if settings.dsa_strategy != "none" else x(i)
                     for x, i, g in zip(xs, idx, generators)]
            logits = batched_forward(params, torch.stack(batch))
            loss = sum(classification_loss(logits[k], y[i], settings.temperature) for k, (y, i) in enumerate(zip(ys, idx)))
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for (name, p), g in zip(params.items(), grads):
                    step = g + settings.weight_decay * p if settings.weight_decay else g
                    if settings.momentum:
                        buf = momentum[name]
                        momentum[name] = step.clone() if buf is None else buf.mul_(settings.momentum).add_(step)
                        step = momentum[name]
                    p.sub_(lr * step)
    with torch.no_grad():
        for k, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
            net.eval()
    return nets
