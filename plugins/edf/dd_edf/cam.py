"""Batched, differentiable Grad-CAM in plain torch (matches pytorch-grad-cam's GradCAM).

For each image j and target class c_j: A = activations of a chosen layer, α_k = mean over
positions of ∂score_c/∂A_k, map = ReLU(Σ_k α_k A_k), min-max normalised per map, bilinearly
resized to the image size and min-max normalised again (pytorch-grad-cam normalises both before
and after its resize; EDF's torchcam does the first only, which the second makes irrelevant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def default_cam_layer(net: nn.Module, image_size: tuple[int, int]) -> int:
    """For a ConvNet: index into ``features`` of the deepest ReLU whose map is larger than 1×1.

    On 8×8 digits a depth-3 ConvNet ends at 1×1, where every map normalises to zero; this picks
    the 2×2 ReLU before the last pooling instead.
    """
    x = torch.zeros(2, next(net.parameters()).shape[1], *image_size, device=next(net.parameters()).device)
    best = None
    with torch.no_grad():
        for i, layer in enumerate(net.features):
            x = layer(x)
            if isinstance(layer, nn.ReLU) and x.shape[-1] * x.shape[-2] > 1:
                best = i
    if best is None:
        raise ValueError("the CAM network has no ReLU with a map larger than 1×1")
    return best


def activations_and_logits(net: nn.Module, x: torch.Tensor, layer: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The CAM layer's activations and the logits, in one forward pass.

    ConvNet: ``features[layer]``'s output. timm models: the output of ``forward_features`` (the
    last feature map, like ``layer4`` of a ResNet).
    """
    if hasattr(net, "features") and isinstance(net.features, nn.Sequential):
        h = x
        act = None
        for i, module in enumerate(net.features):
            h = module(h)
            if i == layer:
                act = h
        return act, net.classifier(h.flatten(1))
    feats = net.model.forward_features(x)
    return feats, net.model.forward_head(feats)


def grad_cam(net: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: int | None,
             create_graph: bool = False) -> torch.Tensor:
    """Maps N×H×W in [0, 1] for ``targets`` (N,), one per image; differentiable with ``create_graph``."""
    x = images if images.requires_grad else images.detach().requires_grad_(True)
    act, logits = activations_and_logits(net, x, layer)
    score = logits.gather(1, targets.view(-1, 1).to(logits.device)).sum()
    (grads,) = torch.autograd.grad(score, act, create_graph=create_graph)
    cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * act).sum(1, keepdim=True))
    cam = F.interpolate(_min_max(cam), size=images.shape[-2:], mode="bilinear", align_corners=False)
    out = _min_max(cam).squeeze(1)
    return out if create_graph else out.detach()


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    flat = flat - flat.min(1, keepdim=True).values
    return (flat / (flat.max(1, keepdim=True).values + 1e-7)).view_as(maps)
