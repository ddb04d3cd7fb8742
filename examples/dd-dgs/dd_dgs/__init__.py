"""Difficulty-guided sampling (DGS) as a ddcore plugin, stage name ``dgs``.

Written against ddcore's public API only (what ``ddcore`` exports, and ``ddcore.testing`` in its
tests), as a third party would: a selection stage that keeps IPC
images per class from any pool so that their difficulty histogram matches the real class's.
"""

from ddcore import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_selectors(register):
    from .selector import DifficultyGuidedSelector

    register(DifficultyGuidedSelector())


@hookimpl
def register_options(register):
    from .options import DgsOptions

    register("dgs", DgsOptions)
