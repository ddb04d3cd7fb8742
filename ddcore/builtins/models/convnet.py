"""The ConvNet family of the dataset-distillation literature (DC, DSA, MTT, DATM, EDF).

``depth`` blocks of conv3×3 (``width`` channels) → norm → ReLU → 2×2 average pooling, then one
linear layer. "instancenorm" is ``GroupNorm(C, C)`` with affine parameters, as in the papers.
The classifier's input size comes from a dry forward pass (pooling stops at 1×1), so any image
size works. ``convnet`` without a depth is D3, or D2 on 8×8 digits (``default_depth``); an
explicit depth whose instance norm would see a 1×1 map is refused. ``first_padding`` (``-padN``)
pads the first convolution by N instead of 1, so its maps grow by 2(N − 1): ``convnet-pad3``
is the official code's network for 1-channel images (8 → 12 → 6 → 3, 28 → 32 → 16 → 8 → 4).
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("instancenorm", "batchnorm", "layernorm", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batchnorm":
        return nn.BatchNorm2d(channels)
    if kind == "layernorm":
        return nn.GroupNorm(1, channels, affine=True)
    return nn.Identity()


def default_depth(image_size: tuple[int, int]) -> int:
    """3 (the papers' ConvNet), or shallower so the last block normalises maps of at least 4×4.

    Instance norm over a 2×2 map (a depth-3 net on 8×8 digits) makes the network learn slowly
    and its input gradients orders of magnitude larger, which breaks trajectory matching; D2 does not.
    """
    depth, side = 1, min(image_size)
    while depth < 3 and side // 2 >= 4:
        depth, side = depth + 1, side // 2
    return depth


class ConvNet(nn.Module):
    """ConvNet-D{depth}, width ``width``; ``embed`` gives the penultimate (flattened) features."""

    def __init__(self, channels: int, num_classes: int, image_size: tuple[int, int], width: int = 128,
                 depth: int | None = None, norm: str = "instancenorm", pooling: str = "avgpool", first_padding: int = 1):
        super().__init__()
        grown = 2 * (first_padding - 1)  # the first convolution's maps are this much larger than the image
        depth = default_depth((image_size[0] + grown, image_size[1] + grown)) if depth is None else depth
        self.depth = depth
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}")
        layers: list[nn.Module] = []
        h, w = image_size
        in_ch = channels
        for block in range(depth):
            padding = first_padding if block == 0 else 1
            h, w = h + 2 * (padding - 1), w + 2 * (padding - 1)  # the convolution's output, which the norm sees
            if norm in ("instancenorm", "layernorm") and h * w == 1:
                from ddcore.errors import ConfigError

                raise ConfigError(
                    f"a depth-{depth} ConvNet is too deep for {image_size[0]}×{image_size[1]} images: block {block + 1} would "
                    f"normalise a 1×1 map (always zero); use depth ≤ {block} or another norm."
                )
            layers += [nn.Conv2d(in_ch, width, 3, padding=padding), _norm(norm, width), nn.ReLU(inplace=False)]
            if pooling != "none" and min(h, w) >= 2:
                layers.append(nn.AvgPool2d(2) if pooling == "avgpool" else nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            in_ch = width
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            dim = self.features.eval()(torch.zeros(2, channels, *image_size))[0].numel()
        self.features.train()
        self.classifier = nn.Linear(dim, num_classes)
        self.feature_dim = dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
