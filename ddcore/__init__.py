"""ddcore: dataset distillation as a plugin ecosystem.

Plugins import only this package (and ``ddcore.testing`` in their tests)::

    from ddcore import hookimpl, Synthesizer, Selector, Scorer, Modifier, DistilledSet, RunContext

Everything a plugin may use is in ``__all__`` (docs/api.md describes each name). Names that touch
torch are imported lazily on first attribute access, so ``import ddcore`` and ``dd --help`` stay
instant; ``__init__.pyi`` gives type checkers and editors the same names.
"""

from __future__ import annotations

import importlib

from .errors import ConfigError, DataError, DDError, PluginError
from .hookspecs import hookimpl

__version__ = "0.1.0"

# module -> the public names it defines (imported on first use)
_EXPORTS = {
    # what hooks receive and return
    "ddcore.artifact": "DistilledSet",
    "ddcore.context": "RunContext derive_seed pick_device",
    "ddcore.realdata": "RealData DatasetSpec DatasetTransform open_dataset",
    "ddcore.models": "ModelSpec ModelName build_model architecture_fingerprint check_model_name",
    "ddcore.components": "Synthesizer Scorer Selector Modifier Evaluator MatchingTerms PixelGradients StageReport",
    "ddcore.options": "Options",
    "ddcore.cache": "Cache",
    # helpers for plugin code
    "ddcore.distributed": "Dist distributed_context",
    "ddcore.plugins": "get_plugin_manager",
    "ddcore.progress": "progress_bar",
    "ddcore.atomic": "atomic_path",
    "ddcore.builtins.training": "TrainSettings train_classifier data_rows classification_loss soft_cross_entropy accuracy "
                                "predict autocast save_progress load_progress progress_file",
    "ddcore.builtins.batched": "train_classifier_batched batchable",
    "ddcore.builtins.collectives": "all_reduce_ all_gather_objects broadcast_object gather_rows gather_by_index "
                                   "sum_across_ranks reduce_gradient",
    "ddcore.builtins.augment": "dsa Draws DSAParams",
    "ddcore.builtins.weights": "load_weights",
    "ddcore.builtins.classifier": "real_data_classifier",
    "ddcore.builtins.cache_claims": "claimed",
    "ddcore.builtins.images": "to_pixels save_grid save_before_after write_grids",
    "ddcore.builtins.finished_runs": "stage_sets for_display",
}
_LAZY = {name: module for module, names in _EXPORTS.items() for name in names.split()}

__all__ = ["hookimpl", "DDError", "ConfigError", "DataError", "PluginError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ddcore' has no attribute {name!r}")

