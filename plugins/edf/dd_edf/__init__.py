"""EDF: trajectory matching (MTT/DATM) with Common Pattern Dropout and Discriminative Area Enhancement.

Registers the synthesizer ``edf`` (the matching engine, ``matching.py``), its options and
presets (``options.py``), the ``dd edf`` commands (``commands.py``), and implements ddcore's two
loss-weighting hooks: CPD as ``weight_matching_terms`` and DAE as ``weight_pixel_gradients``.
They run only in runs that name ``edf`` and only inside an optimising synthesizer, so
``-o edf.cpd_ratio=0 -o edf.dae=false`` is exactly DATM.
"""

from __future__ import annotations

from ddcore import Synthesizer, hookimpl

STAGE = "edf"


class EdfSynthesizer(Synthesizer):
    name = STAGE
    description = "EDF trajectory matching (DATM engine + CPD + DAE); experts trained on the real data and cached"
    optimizes = True

    def synthesize(self, ctx, data, per_class):
        from .matching import distill

        return distill(ctx, data, per_class)


@hookimpl
def register_synthesizers(register):
    register(EdfSynthesizer())


@hookimpl
def register_options(register):
    from .options import EdfOptions

    register(STAGE, EdfOptions)


@hookimpl
def register_datasets(register):
    from .subsets import dataset_specs

    for spec in dataset_specs():
        register(spec)


@hookimpl
def register_commands(cli):
    from .commands import edf_group

    cli.add_command(edf_group)


@hookimpl
def weight_matching_terms(ctx, terms):
    """CPD: zero weight for the ⌊ρ·P⌋ parameters with the smallest matching error."""
    opts = ctx.options_for(STAGE)
    if opts.cpd_ratio <= 0:
        return None
    from .cpd import cpd_weights

    return cpd_weights(terms.numerator, opts.cpd_ratio)


@hookimpl
def weight_pixel_gradients(ctx, grads):
    """DAE: class-activation-map weights (``cam_method``), refreshed every ``dae_interval`` iterations (kept in ``ctx.state``)."""
    opts = ctx.options_for(STAGE)
    if not opts.dae:
        return None
    import torch

    from ddcore import derive_seed

    from .dae import cam_network, refresh_weights

    if "edf.dae_weights" not in ctx.state or grads.iteration % opts.dae_interval == 0:
        import time

        net, layer, class_index = cam_network(ctx, opts)
        tick = time.perf_counter()
        noise = torch.Generator().manual_seed(derive_seed(ctx.seed, STAGE, "cam-noise", grads.iteration))  # smoothgradcam++ only
        ctx.state["edf.dae_weights"] = refresh_weights(net, layer, grads.images, grads.labels, opts.dae_beta, opts.dae_threshold,
                                                       method=opts.cam_method, generator=noise, class_index=class_index)
        ctx.record("dae_refresh_seconds", time.perf_counter() - tick, grads.iteration)
    return ctx.state["edf.dae_weights"]
