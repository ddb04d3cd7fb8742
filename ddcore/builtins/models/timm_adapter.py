"""Any timm model by name, with ``embed`` (pre-logits features) like the ConvNet.

Small images (≤ 64 px) get a CIFAR-style stem where the model has a ResNet-like one: a 3×3
stride-1 first convolution and no max-pool, so 32×32 inputs keep enough resolution.
"""

from __future__ import annotations

import torch
from torch import nn


class TimmClassifier(nn.Module):
    """Wraps ``timm.create_model(name, pretrained=False, ...)``."""

    def __init__(self, name: str, channels: int, num_classes: int, image_size: tuple[int, int]):
        super().__init__()
        import timm

        try:
            self.model = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=channels)
        except RuntimeError as exc:  # unknown model name
            from ddcore.errors import ConfigError

            raise ConfigError(f"timm has no model {name!r} ({str(exc).splitlines()[0]}); see timm.list_models().") from None
        if max(image_size) <= 64:
            _cifar_stem(self.model, channels)
        with torch.no_grad():
            self.feature_dim = self.embed(torch.zeros(2, channels, *image_size)).shape[1]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _cifar_stem(model: nn.Module, channels: int) -> None:
    conv = getattr(model, "conv1", None)
    if isinstance(conv, nn.Conv2d):
        model.conv1 = nn.Conv2d(channels, conv.out_channels, 3, stride=1, padding=1, bias=False)
        if hasattr(model, "maxpool"):
            model.maxpool = nn.Identity()
