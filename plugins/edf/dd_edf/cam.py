"""Batched class activation maps in plain torch: Grad-CAM, Grad-CAM++ and SmoothGrad-CAM++.

For each image j and target class c_j, with A the activations of a chosen layer and
g = ∂score_c/∂A: map = ReLU(Σ_k w_k A_k), min-max normalised per map, bilinearly resized to the
image size and min-max normalised again (pytorch-grad-cam normalises both before and after its
resize; EDF's torchcam does the first only, which the second makes irrelevant). The weights:

* Grad-CAM (Selvaraju et al. 2017; matches pytorch-grad-cam's GradCAM): w_k = mean_ij g_ij^k.
* Grad-CAM++ (Chattopadhyay et al. 2018; matches its GradCAMPlusPlus): a_ij^k = (g²) / (2 g² +
  Σ_ab A_ab^k g³), 0 where g = 0, and w_k = Σ_ij a_ij^k ReLU(g_ij^k).
* SmoothGrad-CAM++ (Omeiza et al. 2019; what EDF's code uses, through torchcam): Grad-CAM++ with
  g, g² and g³ each averaged over ``samples`` copies of the input with Gaussian noise of std
  ``noise`` added (drawn from a seeded generator). torchcam weights with the last noisy sample's
  ReLU(g) instead of the average the paper defines; we follow the paper.
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


def last_pool_layer(net: nn.Module, image_size: tuple[int, int]) -> int:
    """For a ConvNet: index into ``features`` of the last pooling layer, where EDF's code explains;
    refused when its map is 1×1 (a constant map normalises to zero)."""
    x = torch.zeros(2, next(net.parameters()).shape[1], *image_size, device=next(net.parameters()).device)
    found, side = None, None
    with torch.no_grad():
        for i, layer in enumerate(net.features):
            x = layer(x)
            if isinstance(layer, (nn.AvgPool2d, nn.MaxPool2d)):
                found, side = i, tuple(x.shape[-2:])
    if found is None:
        raise ValueError("the CAM network has no pooling layer")
    if side[0] * side[1] == 1:
        from ddcore import ConfigError

        raise ConfigError(f"the CAM network's last pooling gives 1×1 maps on {image_size[0]}×{image_size[1]} images; "
                          "use edf.cam_layer=deepest or a shallower edf.cam_model (convnet-d2).")
    return found


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


def _activations_and_gradients(net: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: int | None,
                               create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    x = images if images.requires_grad else images.detach().requires_grad_(True)
    act, logits = activations_and_logits(net, x, layer)
    score = logits.gather(1, targets.view(-1, 1).to(logits.device)).sum()
    (grads,) = torch.autograd.grad(score, act, create_graph=create_graph)
    return act, grads


def _map(act: torch.Tensor, weights: torch.Tensor, size) -> torch.Tensor:
    cam = F.relu((weights * act).sum(1, keepdim=True))
    cam = F.interpolate(_min_max(cam), size=size, mode="bilinear", align_corners=False)
    return _min_max(cam).squeeze(1)


def grad_cam(net: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: int | None,
             create_graph: bool = False) -> torch.Tensor:
    """Grad-CAM maps N×H×W in [0, 1] for ``targets`` (N,), one per image; differentiable with ``create_graph``."""
    act, grads = _activations_and_gradients(net, images, targets, layer, create_graph)
    out = _map(act, grads.mean(dim=(2, 3), keepdim=True), images.shape[-2:])
    return out if create_graph else out.detach()


def _plus_plus_weights(act: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor, g3: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s w_k = Σ_ij a_ij^k ReLU(g_ij^k), a = g² / (2 g² + Σ_ab A_ab g³) (0 where g² = 0)."""
    denominator = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g3
    alpha = torch.where(g2 != 0, g2 / (denominator + 1e-6), torch.zeros_like(g2))  # pytorch-grad-cam's ε
    return (alpha * F.relu(g1)).sum(dim=(2, 3), keepdim=True)


def grad_cam_plus_plus(net: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: int | None) -> torch.Tensor:
    """Grad-CAM++ maps N×H×W in [0, 1] for ``targets``."""
    act, g = _activations_and_gradients(net, images, targets, layer)
    act, g = act.detach(), g.detach()
    return _map(act, _plus_plus_weights(act, g, g ** 2, g ** 3), images.shape[-2:]).detach()


def smoothgrad_cam_plus_plus(net: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: int | None,
                             samples: int = 4, noise: float = 0.3, generator: torch.Generator | None = None) -> torch.Tensor:
    """SmoothGrad-CAM++ maps N×H×W in [0, 1]: Grad-CAM++ with the gradient's first three powers
    averaged over ``samples`` noisy copies of ``images`` (std ``noise``; EDF's torchcam: 4 and 0.3);
    the activations are the clean images'."""
    act, _ = _activations_and_gradients(net, images, targets, layer)
    g1, g2, g3 = (torch.zeros_like(act) for _ in range(3))
    for _ in range(samples):
        shaken = images.detach() + noise * torch.randn(images.shape, generator=generator, device="cpu").to(images.device)
        _, g = _activations_and_gradients(net, shaken, targets, layer)
        g1, g2, g3 = g1 + g, g2 + g ** 2, g3 + g ** 3
    return _map(act.detach(), _plus_plus_weights(act.detach(), g1 / samples, g2 / samples, g3 / samples), images.shape[-2:]).detach()


def class_activation_maps(method: str, net: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: int | None,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """``edf.cam_method``'s maps: ``gradcam``, ``gradcam++`` or ``smoothgradcam++``."""
    if method == "gradcam":
        return grad_cam(net, images, targets, layer)
    if method == "gradcam++":
        return grad_cam_plus_plus(net, images, targets, layer)
    if method == "smoothgradcam++":
        return smoothgrad_cam_plus_plus(net, images, targets, layer, generator=generator)
    raise ValueError(f"unknown CAM method {method!r}")


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    flat = flat - flat.min(1, keepdim=True).values
    return (flat / (flat.max(1, keepdim=True).values + 1e-7)).view_as(maps)
