"""Model names, parsed without importing torch (options are validated before any compute).

``convnet[-dN][-wN][-in|-bn|-ln|-nn]`` or ``timm:NAME``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from .errors import ConfigError

_NORM_TOKENS = {"in": "instancenorm", "bn": "batchnorm", "ln": "layernorm", "nn": "none"}
HELP = "convnet[-dN][-wN][-in|-bn|-ln|-nn] or timm:NAME (e.g. timm:resnet18)"


def parse_convnet(name: str) -> dict:
    """``"convnet-d5-w64-bn"`` -> ``{"depth": 5, "width": 64, "norm": "batchnorm"}``.

    Without ``dN`` the depth is None: 3, or shallower for images so small that a third block
    would normalise 2×2 maps (see ``ConvNet``).
    """
    parts = name.lower().split("-")
    if parts[0] != "convnet":
        raise ConfigError(f"model {name!r} is unknown; use {HELP}.")
    cfg = {"depth": None, "width": 128, "norm": "instancenorm"}
    for token in parts[1:]:
        if m := re.fullmatch(r"d(\d+)", token):
            cfg["depth"] = int(m.group(1))
        elif m := re.fullmatch(r"w(\d+)", token):
            cfg["width"] = int(m.group(1))
        elif token in _NORM_TOKENS:
            cfg["norm"] = _NORM_TOKENS[token]
        else:
            raise ConfigError(f"model {name!r}: {token!r} is not dN, wN, in, bn, ln or nn; e.g. convnet-d4-w64.")
    if (cfg["depth"] is not None and not 1 <= cfg["depth"] <= 8) or cfg["width"] < 1:
        raise ConfigError(f"model {name!r}: depth must be 1–8 and width positive.")
    return cfg


def check_model_name(name: str) -> str:
    """Return ``name`` when it names a buildable model; a one-sentence ConfigError otherwise."""
    if name.startswith("timm:") and len(name) > 5:
        return name
    parse_convnet(name)
    return name


def _validate(name: str) -> str:
    try:
        return check_model_name(name)
    except ConfigError as exc:
        raise ValueError(str(exc).rstrip(".")) from None


# Use as the type of an options field that names a model: ``model: ModelName = "convnet"``.
ModelName = Annotated[str, AfterValidator(_validate)]
