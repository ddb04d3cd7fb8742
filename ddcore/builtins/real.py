"""Built-in synthesizer ``real``: random real training images, the floor every method must beat.

It is also the pool a selection stage works on when no synthesizer is named in ``--plugins``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ddcore.components import Synthesizer
from ddcore.hookspecs import hookimpl
from ddcore.options import Options

if TYPE_CHECKING:  # pragma: no cover
    from ddcore.artifact import DistilledSet
    from ddcore.context import RunContext
    from ddcore.realdata import RealData


class RealOptions(Options):
    seed: int | None = Field(None, description="draw the images with this seed instead of the run seed (to compare several random subsets)")


class RealSynthesizer(Synthesizer):
    name = "real"
    description = "random real training images, per_class of each class"

    def synthesize(self, ctx: RunContext, data: RealData, per_class: int) -> DistilledSet:
        import torch

        from ddcore.artifact import DistilledSet
        from ddcore.errors import ConfigError

        opts = ctx.options_for("real")
        g = ctx.generator("draw")
        if opts.seed is not None:
            g = torch.Generator().manual_seed(opts.seed)
        picked = []
        for c in range(data.num_classes):
            idx = data.class_indices(c)
            if len(idx) < per_class:
                raise ConfigError(
                    f"class {data.class_names[c]!r} has {len(idx)} training images but the pool needs {per_class}; "
                    "lower --ipc or --pool-factor."
                )
            picked.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
        index = torch.cat(picked)
        return DistilledSet.from_real(
            data,
            images=data.images_of("train", index).clone(),
            classes=data.train_labels[index].clone(),
            columns={"real_index": index},
        )


@hookimpl
def register_synthesizers(register):
    register(RealSynthesizer())


@hookimpl
def register_options(register):
    register("real", RealOptions)
