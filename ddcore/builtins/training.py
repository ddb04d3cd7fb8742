"""Training a classifier on a (small or full) labelled image set: the loop every stage shares.

Used by the evaluation protocol, and by plugins that train their own helpers on the real data
(expert trajectories, CAM models, detectors, feature extractors). Labels are hard class indices
(N,) or soft logits (N, K) (cross-entropy against ``softmax(logits / temperature)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .augment import DEFAULT_STRATEGY, dsa


@dataclass
class TrainSettings:
    epochs: int
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    dsa_strategy: str = DEFAULT_STRATEGY  # "none" turns augmentation off
    temperature: float = 1.0
    decay_at_half: bool = True  # lr × 0.1 after half the epochs (the MTT/DATM protocol)


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Cross-entropy against the distribution ``softmax(target_logits / temperature)``."""
    p = F.softmax(target_logits / temperature, dim=1)
    return -(p * F.log_softmax(logits, dim=1)).sum(1).mean()


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    if targets.dim() == 2:
        return soft_cross_entropy(logits, targets, temperature)
    return F.cross_entropy(logits, targets)


def rows(images: torch.Tensor | Callable, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``index -> images`` on ``device``: a tensor moved there once, or a function as it is (``data_rows``)."""
    if callable(images):
        return images
    on_device = images.to(device)
    return lambda index: on_device[index]


def data_rows(data, device: torch.device, split: str = "train") -> Callable[[torch.Tensor], torch.Tensor]:
    """The rows of ``data``'s split, normalised on ``device`` a batch at a time (nothing float kept on the host)."""
    return lambda index: data.images_of(split, index, device)


def train_classifier(
    net: nn.Module, images: torch.Tensor | Callable, targets: torch.Tensor, settings: TrainSettings,
    generator: torch.Generator, device: torch.device,
    progress: Callable | None = None,
) -> nn.Module:
    """SGD with momentum for ``settings.epochs`` epochs; returns ``net`` (trained in place).

    ``images``: a tensor, or ``data_rows(data, device)`` to stream a dataset's split batch by batch.
    ``generator`` (CPU) drives shuffling and augmentation, so equal seeds give equal runs.
    """
    net.to(device).train()
    x_all, y_all = rows(images, device), targets.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    epochs = range(settings.epochs)
    for epoch in progress(epochs) if progress else epochs:
        if settings.decay_at_half and epoch == settings.epochs // 2 + 1:
            for group in opt.param_groups:
                group["lr"] = settings.lr * 0.1
        order = torch.randperm(len(y_all), generator=generator).to(device)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            x = dsa(x_all(idx), generator, settings.dsa_strategy) if settings.dsa_strategy != "none" else x_all(idx)
            loss = classification_loss(net(x), y_all[idx], settings.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """Logits for ``images`` (CPU tensor out)."""
    net.eval()
    return torch.cat([net(b.to(device)).cpu() for b in images.split(batch_size)])


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    return float((predict(net, images, device).argmax(1) == labels).float().mean())
