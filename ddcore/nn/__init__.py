"""Evaluation (and feature) architectures by name; see ``ddcore/model_names.py`` for the syntax.

``convnet`` is ConvNet-D3, width 128, instance norm: the network every distillation paper of
the MTT line evaluates with. Every model has ``forward`` (logits) and ``embed`` (features).
"""

from __future__ import annotations

from torch import nn

from ..model_names import HELP, check_model_name, parse_convnet

__all__ = ["architecture_fingerprint", "build_model", "check_model_name", "parse_convnet", "HELP"]


def build_model(name: str, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
    """A freshly initialised network (uses torch's global RNG; seed it first)."""
    check_model_name(name)
    if name.startswith("timm:"):
        from .timm_adapter import TimmClassifier

        return TimmClassifier(name[5:], channels, num_classes, tuple(image_size))
    from .convnet import ConvNet

    return ConvNet(channels, num_classes, tuple(image_size), **parse_convnet(name))


def architecture_fingerprint(net: nn.Module) -> str:
    """A short hash of the parameter names and shapes: keys caches by the network actually built
    (a name like ``convnet`` resolves differently for different image sizes)."""
    import hashlib

    layout = [(n, tuple(p.shape)) for n, p in net.named_parameters()]
    return hashlib.sha256(repr(layout).encode()).hexdigest()[:12]
