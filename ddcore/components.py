"""The component kinds a plugin can register, and the values the call hooks receive.

A *name* is what users type in ``--plugins``. A plugin registers components under a name; the
planner decides from the position in the list which of them runs (``planning.py``). Subclass
these bases and register an instance from the matching ``register_*`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .artifact import DistilledSet
    from .context import RunContext
    from .realdata import RealData


class Component:
    """Common to every kind: the name users type and one line ``dd plugins`` shows beside it."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[str] = ""


class Synthesizer(Component):
    """First stage: makes a pool of ``per_class`` synthetic images for every class.

    Set ``optimizes = True`` when the synthesizer calls ``ctx.matching_loss`` and
    ``ctx.weight_pixel_gradients``; modifiers in a run need such a synthesizer.
    """

    kind: ClassVar[str] = "synthesizer"
    optimizes: ClassVar[bool] = False

    def synthesize(self, ctx: RunContext, data: RealData, per_class: int) -> DistilledSet:
        raise NotImplementedError


class Scorer(Component):
    """Adds named per-image score columns to a pool; never changes the images.

    ``columns`` lists the names it adds; the returned dict must have exactly those keys, each a
    1-D tensor with one value per pool image.
    """

    kind: ClassVar[str] = "scorer"
    columns: ClassVar[tuple[str, ...]] = ()

    def score(self, ctx: RunContext, pool: DistilledSet, data: RealData) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class Selector(Component):
    """A later stage that chooses or repairs images of the pool.

    ``mode = "select"`` returns exactly ``ipc`` images per class chosen from the pool;
    ``mode = "refine"`` returns a pool of the same size with some images replaced.
    The core checks both contracts after the call.
    """

    kind: ClassVar[str] = "selector"
    mode: ClassVar[Literal["select", "refine"]] = "select"

    def select(self, ctx: RunContext, pool: DistilledSet, data: RealData, ipc: int) -> DistilledSet:
        raise NotImplementedError


class Modifier(Component):
    """Weights an optimising synthesizer's loss terms or pixel gradients when its name is in the run.

    Implement ``weight_matching_terms(self, ctx, terms)`` and/or ``weight_pixel_gradients(self,
    ctx, grads)`` as methods decorated with ``ddcore.hookimpl``; the core registers the object
    with pluggy, so a package can offer components and modifiers from one entry point.
    """

    kind: ClassVar[str] = "modifier"


class Evaluator(Component):
    """An evaluation protocol: judges a distilled set against the real test split.

    ``options`` is the pydantic model of the run's ``eval.*`` options. ``evaluate`` returns a
    JSON-able result (written to ``eval.json``) holding at least ``"distilled": {"mean": ...,
    "std": ...}``; ``summary`` turns it into a few lines for the terminal.
    """

    kind: ClassVar[str] = "evaluator"
    options: ClassVar[type | None] = None

    def evaluate(self, ctx: RunContext, dset: DistilledSet, data: RealData, options: Any,
                 baselines: tuple[str, ...]) -> dict[str, Any]:
        raise NotImplementedError

    def summary(self, result: dict[str, Any]) -> str:
        d = result["distilled"]
        return f"distilled {d['mean']:.2f} ± {d['std']:.2f} %"


@dataclass
class MatchingTerms:
    """Per-element terms of a matching loss, handed to ``weight_matching_terms``.

    The synthesizer's loss is ``sum(w * numerator) / sum(w * denominator)`` where ``w`` is the
    product of every active plugin's weights (all ones when none answers). For trajectory
    matching the elements are the scalar network parameters: ``numerator = (student_end -
    expert_target)**2`` and ``denominator = (expert_start - expert_target)**2`` (1-D, float).
    ``iteration`` is the synthesizer's outer iteration; ``info`` carries synthesizer-specific
    facts (EDF: ``start_epoch``).
    """

    numerator: torch.Tensor
    denominator: torch.Tensor
    iteration: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PixelGradients:
    """The synthetic images' gradient before the optimiser step, for ``weight_pixel_gradients``.

    ``grad`` and ``images`` are (N, C, H, W) in the dataset's normalised space (``images`` are
    detached). ``labels`` are hard class indices (N,) or soft labels (N, K) given as **logits**
    (EDF/DATM learn them; ``labels.argmax(1)`` is the class). The answer multiplies ``grad``; it
    must broadcast to ``grad``'s shape.
    """

    grad: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    iteration: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageReport:
    """One stage of a finished run, handed to ``report_stage``.

    ``record`` is the stage's manifest entry (index, stage, kind, mode, plugin, options, ...);
    ``before`` the pool it received (None for the first stage) and ``after`` the pool it
    returned, both ready to show (ZCA undone); ``out`` the report folder for PNGs.
    """

    record: dict[str, Any]
    before: DistilledSet | None
    after: DistilledSet
    out: Path
    run_dir: Path

    def image(self, path: Path, alt: str) -> str:
        """An ``<img>`` tag for a PNG written under ``out``."""
        import html

        return f"<p><img src='{Path(path).relative_to(self.out).as_posix()}' alt='{html.escape(alt)}'></p>"
