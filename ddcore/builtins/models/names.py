"""ConvNet names, parsed without importing torch (options are validated before any compute).

``convnet[-dN][-wN][-in|-bn|-ln|-nn][-padN]``.
"""

from __future__ import annotations

import re

_NORM_TOKENS = {"in": "instancenorm", "bn": "batchnorm", "ln": "layernorm", "nn": "none"}
HELP = "convnet[-dN][-wN][-in|-bn|-ln|-nn][-padN] (e.g. convnet-d4-w64; convnet-pad3: the papers' MNIST network)"


def parse_convnet(name: str) -> dict:
    """``"convnet-d5-w64-bn"`` -> ``{"depth": 5, "width": 64, "norm": "batchnorm", "first_padding": 1}``.

    Without ``dN`` the depth is None: 3, or shallower for images so small that a third block
    would normalise 2×2 maps (see ``ConvNet``). ``padN`` pads the first convolution by N: the
    MTT/DATM/EDF code pads it by 3 for 1-channel images (28 → 32 on MNIST), which is the network
    their published MNIST-family numbers were measured with.
    """
    parts = name.lower().split("-")
    if parts[0] != "convnet":
        raise ValueError(f"{name!r} is not a ConvNet name")
    cfg = {"depth": None, "width": 128, "norm": "instancenorm", "first_padding": 1}
    for token in parts[1:]:
        if m := re.fullmatch(r"d(\d+)", token):
            cfg["depth"] = int(m.group(1))
        elif m := re.fullmatch(r"w(\d+)", token):
            cfg["width"] = int(m.group(1))
        elif m := re.fullmatch(r"pad(\d+)", token):
            cfg["first_padding"] = int(m.group(1))
        elif token in _NORM_TOKENS:
            cfg["norm"] = _NORM_TOKENS[token]
        else:
            raise ValueError(f"{token!r} is not dN, wN, padN, in, bn, ln or nn")
    if (cfg["depth"] is not None and not 1 <= cfg["depth"] <= 8) or cfg["width"] < 1 or cfg["first_padding"] > 8:
        raise ValueError("depth must be 1–8, width positive and padding at most 8")
    return cfg
