"""ddcore: dataset distillation as a plugin ecosystem.

Plugins import only this package::

    from ddcore import hookimpl, Synthesizer, Selector, Scorer, DistilledSet, RunContext

Heavy names (anything touching torch) are imported lazily on first attribute access, so
``import ddcore`` and ``dd --help`` stay instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, DataError, DDError, DuplicateNameError, PluginError
from .hookspecs import hookimpl

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "DistilledSet": "ddcore.artifact",
    "RunContext": "ddcore.context",
    "Cache": "ddcore.cache",
    "RealData": "ddcore.data.base",
    "DatasetSpec": "ddcore.data.base",
    "Synthesizer": "ddcore.components",
    "Scorer": "ddcore.components",
    "Selector": "ddcore.components",
    "MatchingTerms": "ddcore.components",
    "PixelGradients": "ddcore.components",
    "Options": "ddcore.options",
}

__all__ = [
    "hookimpl",
    "DDError",
    "ConfigError",
    "DataError",
    "PluginError",
    "DuplicateNameError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ddcore' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet
    from .cache import Cache
    from .components import MatchingTerms, PixelGradients, Scorer, Selector, Synthesizer
    from .context import RunContext
    from .data.base import DatasetSpec, RealData
    from .options import Options
