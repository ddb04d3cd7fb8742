"""Type information for ``ddcore``'s public names, which ``__init__.py`` imports lazily on first use
(``tests/test_architecture.py`` keeps the two lists equal)."""

from .errors import ConfigError as ConfigError, DataError as DataError, DDError as DDError, PluginError as PluginError
from .hookspecs import hookimpl as hookimpl
from .artifact import DistilledSet
from .atomic import atomic_path
from .builtins.augment import DSAParams, Draws, dsa
from .builtins.weights import load_weights
from .builtins.batched import batchable, train_classifier_batched
from .builtins.collectives import (
    all_gather_objects, all_reduce_, broadcast_object, gather_by_index, gather_rows, reduce_gradient, sum_across_ranks,
)
from .builtins.cache_claims import claimed
from .builtins.classifier import real_data_classifier
from .builtins.finished_runs import for_display, stage_sets
from .builtins.images import save_before_after, save_grid, to_pixels, write_grids
from .builtins.training import (
    TrainSettings, accuracy, autocast, classification_loss, data_rows, load_progress, predict, progress_file, save_progress, soft_cross_entropy,
    train_classifier,
)
from .cache import Cache
from .components import (
    Evaluator, MatchingTerms, Modifier, PixelGradients, Scorer, Selector, StageReport, Synthesizer,
)
from .context import RunContext, derive_seed, pick_device
from .distributed import Dist, distributed_context
from .models import ModelName, ModelSpec, architecture_fingerprint, build_model, check_model_name
from .options import Options
from .plugins import get_plugin_manager
from .progress import progress_bar
from .realdata import DatasetSpec, DatasetTransform, RealData, open_dataset

__version__: str
__all__ = [
    "hookimpl", "DDError", "ConfigError", "DataError", "PluginError", "__version__", "DistilledSet",
    "RunContext", "derive_seed", "pick_device", "RealData", "DatasetSpec", "DatasetTransform", "open_dataset",
    "ModelSpec", "ModelName", "build_model", "architecture_fingerprint", "check_model_name", "Synthesizer",
    "Scorer", "Selector", "Modifier", "Evaluator", "MatchingTerms", "PixelGradients", "StageReport", "Options",
    "Cache", "Dist", "distributed_context", "stage_sets", "for_display", "get_plugin_manager", "progress_bar",
    "atomic_path", "TrainSettings", "train_classifier", "data_rows", "classification_loss",
    "soft_cross_entropy", "accuracy", "predict", "autocast", "save_progress", "load_progress", "progress_file", "train_classifier_batched", "batchable",
    "all_reduce_", "all_gather_objects", "broadcast_object", "gather_rows", "gather_by_index", "sum_across_ranks",
    "reduce_gradient", "dsa", "Draws", "DSAParams", "load_weights", "real_data_classifier", "claimed", "to_pixels", "save_grid", "save_before_after",
    "write_grids"
]
