"""A network as a function of one flat parameter vector (what trajectory matching differentiates).

``FlatModel(net)(x, theta)`` runs ``net`` with its parameters taken from ``theta`` (in
``net.parameters()`` order, the order experts are saved in) through
``torch.func.functional_call``, so gradients flow to ``theta`` and, through an unrolled SGD, to
the synthetic images and the step size.
"""

from __future__ import annotations

import torch
from torch import nn


def flatten_parameters(net: nn.Module) -> torch.Tensor:
    """A detached copy (never a view: later optimiser steps must not change saved epochs)."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()]).clone()


class FlatModel:
    def __init__(self, net: nn.Module):
        self.net = net
        self.names = [n for n, _ in net.named_parameters()]
        self.shapes = [p.shape for p in net.parameters()]
        self.sizes = [p.numel() for p in net.parameters()]
        self.num_parameters = sum(self.sizes)

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: t.view(s) for n, t, s in zip(self.names, theta.split(self.sizes), self.shapes)}

    def __call__(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.net, self.unflatten(theta), (x,))
