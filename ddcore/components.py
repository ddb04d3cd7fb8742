"""The component kinds a plugin can register, and the values the loss-weighting hooks receive.

A *stage name* is what users type in ``--plugins``. A plugin registers components under a stage
name; the pipeline decides from the position in the list which of them runs (see
``pipeline.py``). Subclass these bases and register an instance from the matching hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .artifact import DistilledSet
    from .context import RunContext
    from .data.base import RealData


class Component:
    """Common to every kind: a stage name and one line for ``dd plugins``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[str] = ""


class Synthesizer(Component):
    """First stage: makes a pool of ``per_class`` synthetic images for every class.

    Set ``optimizes = True`` when the synthesiser calls ``ctx.weight_matching_terms`` and
    ``ctx.weight_pixel_gradients``; loss-weighting plugins in a run need such a synthesiser.
    Set ``supports_resume = True`` when it saves progress through ``ctx.checkpoint``.
    """

    kind: ClassVar[str] = "synthesizer"
    optimizes: ClassVar[bool] = False
    supports_resume: ClassVar[bool] = False

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


@dataclass
class MatchingTerms:
    """Per-element terms of a matching loss, handed to ``weight_matching_terms``.

    The synthesiser's loss is ``sum(w * numerator) / sum(w * denominator)`` where ``w`` is the
    product of every active plugin's weights (all ones when none answers). For trajectory
    matching the elements are the scalar network parameters: ``numerator = (student_end -
    expert_target)**2`` and ``denominator = (expert_start - expert_target)**2``.
    """

    numerator: torch.Tensor
    denominator: torch.Tensor
    iteration: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PixelGradients:
    """The synthetic images' gradient before the optimiser step, for ``weight_pixel_gradients``.

    ``labels`` are hard (N,) or soft logits (N, K). The answer multiplies ``grad``; it must
    broadcast to ``grad``'s shape (N, C, H, W).
    """

    grad: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    iteration: int
    info: dict[str, Any] = field(default_factory=dict)
