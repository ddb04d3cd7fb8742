"""ddcore: dataset distillation as a plugin ecosystem.

Plugins import only this package (and ``ddcore.testing`` in their tests)::

    from ddcore import hookimpl, Synthesizer, Selector, Scorer, Modifier, DistilledSet, RunContext

Everything a plugin may use is in ``__all__`` (docs/api.md describes each name). Names that touch
torch are imported lazily on first attribute access, so ``import ddcore`` and ``dd --help`` stay
instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, DataError, DDError, PluginError
from .hookspecs import hookimpl

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    # what hooks receive and return
    "DistilledSet": "ddcore.artifact",
    "RunContext": "ddcore.context",
    "RealData": "ddcore.realdata",
    "DatasetSpec": "ddcore.realdata",
    "DatasetTransform": "ddcore.realdata",
    "ModelSpec": "ddcore.models",
    "Synthesizer": "ddcore.components",
    "Scorer": "ddcore.components",
    "Selector": "ddcore.components",
    "Modifier": "ddcore.components",
    "Evaluator": "ddcore.components",
    "MatchingTerms": "ddcore.components",
    "PixelGradients": "ddcore.components",
    "StageReport": "ddcore.components",
    "Options": "ddcore.options",
    "ModelName": "ddcore.models",
    "Cache": "ddcore.cache",
    # helpers for plugin code
    "build_model": "ddcore.models",
    "architecture_fingerprint": "ddcore.models",
    "check_model_name": "ddcore.models",
    "derive_seed": "ddcore.context",
    "pick_device": "ddcore.context",
    "open_dataset": "ddcore.realdata",
    "stage_sets": "ddcore.stage_files",
    "for_display": "ddcore.stage_files",
    "get_plugin_manager": "ddcore.plugins",
    "progress_bar": "ddcore.progress",
    "atomic_path": "ddcore.atomic",
    "TrainSettings": "ddcore.builtins.training",
    "train_classifier": "ddcore.builtins.training",
    "data_rows": "ddcore.builtins.training",
    "classification_loss": "ddcore.builtins.training",
    "soft_cross_entropy": "ddcore.builtins.training",
    "accuracy": "ddcore.builtins.training",
    "predict": "ddcore.builtins.training",
    "dsa": "ddcore.builtins.augment",
    "real_data_classifier": "ddcore.builtins.classifier",
    "to_pixels": "ddcore.builtins.images",
    "save_grid": "ddcore.builtins.images",
    "save_before_after": "ddcore.builtins.images",
    "write_grids": "ddcore.builtins.images",
}

__all__ = ["hookimpl", "DDError", "ConfigError", "DataError", "PluginError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ddcore' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet
    from .atomic import atomic_path
    from .builtins.augment import dsa
    from .builtins.classifier import real_data_classifier
    from .builtins.images import save_before_after, save_grid, to_pixels, write_grids
    from .builtins.training import (
        TrainSettings, accuracy, classification_loss, data_rows, predict, soft_cross_entropy, train_classifier,
    )
    from .cache import Cache
    from .components import (
        Evaluator, MatchingTerms, Modifier, PixelGradients, Scorer, Selector, StageReport, Synthesizer,
    )
    from .context import RunContext, derive_seed, pick_device
    from .models import ModelName, ModelSpec, architecture_fingerprint, build_model, check_model_name
    from .options import Options
    from .plugins import get_plugin_manager
    from .progress import progress_bar
    from .realdata import DatasetSpec, DatasetTransform, RealData, open_dataset
    from .stage_files import for_display, stage_sets
