"""Every hook of the ``ddcore`` plugin system, typed, with one docstring each.

Two kinds of hooks:

* **Registration hooks** (``register_*``) receive a ``register`` callback. The core owns the
  registry, records which plugin registered what, and rejects a name registered twice. They are
  called once, when plugins load, for every loaded plugin.
* **Call hooks** (``weight_*``) run during a synthesis stage. They are called only for plugins
  named in the run's ``--plugins`` list, one plugin at a time in the user's order, never in
  pluggy's registration order.

Plugins implement them with ``from ddcore import hookimpl``. An implementation may accept a
subset of a hook's arguments (pluggy's opt-in arguments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click
    import torch
    from pydantic import BaseModel

    from .components import MatchingTerms, PixelGradients, Scorer, Selector, Synthesizer
    from .context import RunContext
    from .data.base import DatasetSpec

PROJECT = "ddcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration -------------------------------------------------------------------------


@hookspec
def register_synthesizers(register: Callable[[Synthesizer], None]) -> None:
    """Register synthesis components: ``register(MySynthesizer())``.

    Called once at plugin load. A synthesiser is the first stage of a run and produces the pool
    (``pool_factor * ipc`` images per class when a selection stage follows, else ``ipc``).
    """


@hookspec
def register_scorers(register: Callable[[Scorer], None]) -> None:
    """Register candidate-scoring components: ``register(MyScorer())``.

    Called once at plugin load. A scorer adds named per-image columns to a pool; selectors call
    scorers through ``ctx.score(name, pool, data)`` and a scorer named in ``--plugins`` runs as
    its own stage.
    """


@hookspec
def register_selectors(register: Callable[[Selector], None]) -> None:
    """Register selection or refinement components: ``register(MySelector())``.

    Called once at plugin load. ``mode="select"`` keeps ``ipc`` images per class from the pool;
    ``mode="refine"`` replaces images and keeps the pool's size.
    """


@hookspec
def register_options(register: Callable[[str, type[BaseModel]], None]) -> None:
    """Declare a typed options model for a stage name: ``register("edf", EdfOptions)``.

    Called once at plugin load. The model is a pydantic ``BaseModel`` (subclass
    ``ddcore.Options`` to forbid unknown keys) whose fields have defaults. Users set fields with
    ``-o edf.key=value`` or a ``[edf]`` table in ``--config run.toml``; values are validated
    before any compute and the resolved model is written to the artifact's manifest. A stage
    reads its options as ``ctx.options_for("edf")``.
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets: ``register(DatasetSpec(name=..., load=..., help=...))``.

    Called once at plugin load. Users select one with ``--dataset NAME`` or ``NAME:ARGUMENT``
    (the text after the first colon, for example a folder, is passed to ``spec.load``).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``dd`` command line: ``@cli.group() def edf(): ...``.

    Called once when the CLI is built, for every loaded plugin (named in the run or not).
    Import heavy libraries inside the command functions so ``dd --help`` stays instant.
    """


# --- loss weighting (call hooks, active plugins only) --------------------------------------


@hookspec
def weight_matching_terms(ctx: RunContext, terms: MatchingTerms) -> torch.Tensor | None:
    """Weight the per-element terms of an optimisation-based synthesiser's matching loss.

    Called by the synthesiser (through ``ctx.weight_matching_terms``) on every outer
    iteration, once per plugin in the run, in the user's order. Return a tensor of weights with
    the shape of ``terms.numerator`` (0 drops an element), or ``None`` to leave the terms alone.
    The core multiplies the answers; the loss is ``sum(w*num) / sum(w*den)``.
    """


@hookspec
def weight_pixel_gradients(ctx: RunContext, grads: PixelGradients) -> torch.Tensor | None:
    """Weight the synthetic images' pixel gradients before the optimiser step.

    Called by the synthesiser (through ``ctx.weight_pixel_gradients``) after the backward pass
    of every outer iteration, once per plugin in the run, in the user's order. Return weights
    that broadcast to ``grads.grad`` (N, C, H, W), or ``None``. The core multiplies the answers
    into the gradient.
    """
