"""Weights a user hands over, loaded without unpickling: safetensors, or a torch file read ``weights_only``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ddcore.errors import ConfigError


def load_weights(net: nn.Module, path: str | Path, what: str, fits: str, fix: str) -> nn.Module:
    """Load the state_dict at ``path`` into ``net`` (a ``{"state_dict": ...}`` wrapper too). A file
    that cannot be read, or does not fit, is one sentence: "WHAT PATH do not fit FITS (why); FIX"."""
    path = Path(path).expanduser()
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{what} {path} could not be read as a state_dict ({str(exc).splitlines()[0]}); "
                          "save them with torch.save(net.state_dict()) or safetensors.") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{what} {path} do not fit {fits} ({str(exc).splitlines()[0][:160]}); {fix}") from None
    return net
