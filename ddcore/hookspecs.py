"""Every hook of the ``ddcore`` plugin system, typed, with one docstring each.

Two kinds of hooks:

* **Registration hooks** (``register_*``) receive a ``register`` callback. The core calls them
  through pluggy, one plugin at a time, records which plugin registered what, and refuses a
  plugin that registers a name another plugin (or the core) already has: that plugin is left
  out whole, the rest keep working. They run once, when the registry is first needed.
* **Call hooks** run during a run or a report. They are called through pluggy only for the
  plugins the run names, one plugin at a time in the user's order (never pluggy's registration
  order); ``wrapper=True`` implementations of plugins in the run wrap each of those calls.

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

    from .components import (
        Evaluator, MatchingTerms, Modifier, PixelGradients, Scorer, Selector, StageReport, Synthesizer,
    )
    from .context import RunContext
    from .models import ModelSpec
    from .realdata import DatasetSpec, DatasetTransform

PROJECT = "ddcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration: stages ------------------------------------------------------------------


@hookspec
def register_synthesizers(register: Callable[[Synthesizer], None]) -> None:
    """Register synthesis components: ``register(MySynthesizer())``.

    Called once per plugin, when the registry is first needed.

    A synthesizer is the first stage of a run and produces the pool (``pool_factor * ipc``
    images per class when a selection stage follows, else ``ipc``).
    """


@hookspec
def register_scorers(register: Callable[[Scorer], None]) -> None:
    """Register candidate-scoring components: ``register(MyScorer())``.

    Called once per plugin, when the registry is first needed.

    A scorer adds named per-image columns to a pool; selectors call scorers through
    ``ctx.score(name, pool, data)`` and a scorer named in ``--plugins`` runs as its own stage.
    """


@hookspec
def register_selectors(register: Callable[[Selector], None]) -> None:
    """Register selection or refinement components: ``register(MySelector())``.

    Called once per plugin, when the registry is first needed.

    ``mode="select"`` keeps ``ipc`` images per class from the pool; ``mode="refine"`` replaces
    images and keeps the pool's size.
    """


@hookspec
def register_modifiers(register: Callable[[Modifier], None]) -> None:
    """Register loss-weighting modifiers: ``register(MyModifier())``.

    Called once per plugin, when the registry is first needed.

    A modifier is an object with a ``name`` (what users type in ``--plugins``) whose methods
    implement the call hooks ``weight_matching_terms`` / ``weight_pixel_gradients`` (decorated
    with ``hookimpl``). They run inside an optimising synthesizer when the name is in the run.
    """


@hookspec
def register_options(register: Callable[[str, type[BaseModel]], None]) -> None:
    """Declare a typed options model for a stage or modifier name: ``register("edf", EdfOptions)``.

    Called once per plugin, when the registry is first needed.

    The model is a ``ddcore.Options`` subclass whose fields all have a default and a
    description (a field without either is refused with the plugin's name). Users set fields with
    ``-o edf.key=value`` or a ``[edf]`` table in ``--config run.toml``; values are validated
    before any compute and written to the manifest. A stage reads them as ``ctx.options_for("edf")``.
    """


# --- registration: data, models, evaluation, commands ---------------------------------------


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets: ``register(DatasetSpec(name=..., load=..., help=...))``.

    Called once per plugin, when the registry is first needed.

    Users select one with ``--dataset NAME`` or ``NAME:ARGUMENT`` (the text after the first
    colon, for example a folder, is passed to ``spec.load``).
    """


@hookspec
def register_dataset_transforms(register: Callable[[DatasetTransform], None]) -> None:
    """Register transforms of any dataset: ``register(DatasetTransform(name="zca", apply=..., help=...))``.

    Called once per plugin, when the registry is first needed.

    Users request one with a ``?name=VALUE`` suffix on ``--dataset`` (``digits?zca=0.1``); the
    core loads the dataset, then calls ``apply(data, value, cache)`` once per run.
    """


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register network architectures: ``register(ModelSpec(name="convnet", build=..., help=...))``.

    Called once per plugin, when the registry is first needed.

    A spec owns a family of names: ``NAME`` itself, ``NAME-...`` and ``NAME:...``
    (``convnet-d4-w64``, ``timm:resnet18``); ``check`` validates a full name before any compute,
    ``build`` makes a fresh network. Every model-name option (``ddcore.ModelName``) is checked
    against this registry, and ``ddcore.build_model`` builds through it.
    """


@hookspec
def register_evaluators(register: Callable[[Evaluator], None]) -> None:
    """Register evaluation protocols: ``register(MyEvaluator())``.

    Called once per plugin, when the registry is first needed.

    ``dd run --evaluator NAME`` / ``dd eval --evaluator NAME`` pick one (default
    ``fresh_nets``, K networks trained from scratch); its ``options`` model is the ``eval.*``
    namespace of the run.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``dd`` command line: ``@cli.group() def edf(): ...``.

    Called once when the CLI is built, for every loaded plugin (named in the run or not).
    Import heavy libraries inside the command functions so ``dd --help`` stays instant.
    """


# --- call hooks (plugins in the run only, in the user's order) ------------------------------


@hookspec
def weight_matching_terms(ctx: RunContext, terms: MatchingTerms) -> torch.Tensor | None:
    """Weight the per-element terms of an optimising synthesizer's matching loss.

    Called by the synthesizer (through ``ctx.matching_loss``) on every outer iteration, once
    per plugin in the run, in the user's order. Return a tensor of weights with the shape of
    ``terms.numerator`` (0 drops an element), or ``None`` to leave the terms alone. The core
    multiplies the answers; the loss is ``sum(w*num) / sum(w*den)``.
    """


@hookspec
def weight_pixel_gradients(ctx: RunContext, grads: PixelGradients) -> torch.Tensor | None:
    """Weight the synthetic images' pixel gradients before the optimiser step.

    Called by the synthesizer (through ``ctx.weight_pixel_gradients``) after the backward pass
    of every outer iteration, once per plugin in the run, in the user's order. Return weights
    that broadcast to ``grads.grad`` (N, C, H, W), or ``None``. The core multiplies the answers
    into the gradient.
    """


@hookspec
def report_stage(stage: StageReport) -> str | None:
    """HTML for one stage of a finished run, on the page ``dd report`` writes.

    Called only for the plugin that registered the stage. Return an HTML fragment (write any
    PNGs under ``stage.out`` and embed them with ``stage.image(path, alt)``), or ``None`` for
    the built-in section (before/after pairs, kept images, added columns or the pool).
    """
