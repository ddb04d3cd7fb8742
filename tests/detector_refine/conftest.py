"""Lets the tests import ``sd_folder`` (a tiny Stable-Diffusion-shaped folder) from this folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
