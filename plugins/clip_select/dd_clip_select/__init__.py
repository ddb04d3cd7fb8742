"""CLIP semantic sampling (SAS, arXiv 2605.18012) as a ddcore plugin, stage name ``clip_select``.

Registers, both under ``clip_select`` (thin classes in ``components.py``):

* a scorer: CLIP class relevance, inter-class separability and diversity columns (``scoring.py``);
* a selector: stage 1 keeps the top ⌈β·IPC⌉ per class by score, stage 2 picks IPC of them
  greedily against redundancy (``select.py``, ``sampling.py``);
* options (``options.py``) and the ``dd clip_select fit|explain`` commands (``commands.py``).

open_clip is imported inside the components.
"""

from ddcore import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_scorers(register):
    from .components import ClipScorer

    register(ClipScorer())


@hookimpl
def register_selectors(register):
    from .components import ClipSelector

    register(ClipSelector())


@hookimpl
def register_options(register):
    from .options import ClipSelectOptions

    register("clip_select", ClipSelectOptions)


@hookimpl
def register_commands(cli):
    from .commands import clip_select_group

    cli.add_command(clip_select_group)
