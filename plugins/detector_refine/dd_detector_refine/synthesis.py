"""Prototype-guided synthesis (D4M style): one img2img generation from every k-means prototype.

For class c with n images to make: n prototypes μ_{c,j}; x̃_{c,j} = img2img(μ_{c,j}, c, σ, w, N)
with a seed derived from the run seed, c and j. The column ``prototype`` keeps j so the
refinement stage regenerates from the same prototype. Every image has its own seed, so under
torchrun each rank generates the images i ≡ rank (mod W) and all of them are gathered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import DistilledSet, RealData, RunContext


def generate(ctx: RunContext, generator, latents: torch.Tensor, classes: torch.Tensor, seeds: list[int], opts,
             desc: str) -> torch.Tensor:
    """img2img over ``latents`` in batches of ``opts.batch_size``, with a progress bar; [0, 1] images.
    Under torchrun this rank makes its share of the rows and every rank gets all of them."""
    from ddcore import gather_by_index

    n = len(latents)
    mine = ctx.dist.mine(n)
    latents, classes, seeds = latents[mine], classes[mine], [seeds[i] for i in mine]
    out = []
    chunks = list(zip(latents.split(opts.batch_size), classes.split(opts.batch_size),
                      [seeds[i:i + opts.batch_size] for i in range(0, len(seeds), opts.batch_size)]))
    for z, c, s in ctx.progress(chunks, desc=desc):
        out.append(generator.img2img(z, c, s, opts.strength, generator.guidance(opts), opts.steps))
    made = torch.cat(out) if out else torch.zeros((0, *generator.image_shape))
    return gather_by_index(made, n, ctx.dist)


def synthesize_from_prototypes(ctx: RunContext, data: RealData, per_class: int) -> DistilledSet:
    """``per_class`` images per class, one per prototype."""
    from ddcore import DistilledSet, derive_seed

    from .generator import load_generator
    from .prototypes import class_prototypes, prototype_spec

    opts = ctx.options_for("detector_refine")
    if opts.detector_weights:  # a checkpoint that does not fit should stop the run before the slow part
        from .detector import load_detector

        load_detector(ctx, data, opts)
    generator = load_generator(ctx, data, opts)
    ctx.log(f"generator: {generator.description}; guidance w = {generator.guidance(opts)}")
    with ctx.dist.main_first():  # torchrun: rank 0 clusters and caches, the others read the cache
        protos = class_prototypes(ctx, data, generator, per_class, opts.kmeans_init)
    classes = torch.arange(data.num_classes).repeat_interleave(per_class)
    slots = torch.arange(per_class).repeat(data.num_classes)
    seeds = [derive_seed(ctx.seed, "synthesis", int(c), int(j)) for c, j in zip(classes, slots)]
    images01 = generate(ctx, generator, protos.flatten(0, 1), classes, seeds, opts, "synthesis (img2img from prototypes)")
    facts = {"detector_refine": {"generator": generator.description, "guidance": generator.guidance(opts),
                                 "prototypes": prototype_spec(data, generator, per_class, ctx.seed, opts.kmeans_init)}}
    return DistilledSet.from_real(data, data.normalize(images01), classes, columns={"prototype": slots}, facts=facts)
