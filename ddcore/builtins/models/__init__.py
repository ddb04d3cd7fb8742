"""Built-in models: the ConvNet family of the distillation literature and any timm model.

``convnet`` is ConvNet-D3, width 128, instance norm: the network every distillation paper of
the MTT line evaluates with (``names.py`` has the name grammar). ``timm:NAME`` wraps any timm
architecture (``timm_adapter.py``). Both register through ``register_models`` like a plugin's.
"""

from __future__ import annotations

from ddcore.hookspecs import hookimpl
from ddcore.models import ModelSpec

from .names import HELP, parse_convnet


def _build_convnet(name, channels, num_classes, image_size):
    from .convnet import ConvNet

    return ConvNet(channels, num_classes, tuple(image_size), **parse_convnet(name))


def _build_timm(name, channels, num_classes, image_size):
    from .timm_adapter import TimmClassifier

    return TimmClassifier(name.split(":", 1)[1], channels, num_classes, tuple(image_size))


def _check_timm(name: str) -> None:
    if not name.startswith("timm:") or len(name) <= 5:
        raise ValueError("name the timm architecture after the colon")


@hookimpl
def register_models(register):
    register(ModelSpec("convnet", _build_convnet, HELP, check=parse_convnet))
    register(ModelSpec("timm", _build_timm, "timm:NAME (any timm architecture, e.g. timm:resnet18)", check=_check_timm))
