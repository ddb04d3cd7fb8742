"""Tiny detector_refine settings: a width-8 generator trained for a few epochs, short schedules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

TINY = {
    "gen_width": 8, "gen_vae_epochs": 1, "gen_unet_epochs": 2, "steps": 4, "candidates": 3, "top_k": 2,
    "detector_model": "convnet-w16", "detector_epochs": 2, "batch_size": 32,
}


@pytest.fixture
def tiny():
    return dict(TINY)
