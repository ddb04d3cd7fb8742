"""Test plugin ``toy``: proves the entry-point path, checkpoint/resume, the call hooks, a modifier
from the same package (``toy_weights``, ``weights.py``), a report section, and a model family,
an evaluator, a dataset, a dataset transform, a scorer and a selector (``extras.py``): every hook
a plugin can implement (``tests/test_hookspecs.py`` checks that ddcore calls each and it answers).

``toy`` synthesises by gradient descent: noise images per class pulled towards random real
images of their class, with a random perturbation each step (so resuming must restore the
random streams to match an uninterrupted run). It calls the loss-weighting hooks like any
optimising synthesizer.
"""

from __future__ import annotations

import os
import time

from pydantic import Field

from ddcore import DatasetSpec, DatasetTransform, MatchingTerms, ModelSpec, Options, PixelGradients, Synthesizer, hookimpl


class ToyOptions(Options):
    iterations: int = Field(20, ge=1, description="gradient steps")
    checkpoint_every: int = Field(5, ge=1, description="save progress every N steps")
    lr: float = Field(0.1, gt=0, description="step size")
    sleep: float = Field(0.0, ge=0, description="seconds to wait per step (lets tests interrupt a run)")
    fail_rank: int | None = Field(None, ge=0, description="under torchrun: this rank raises at fail_step (tests a failing rank)")
    fail_step: int = Field(0, ge=0, description="the step at which fail_rank raises")


class ToySynthesizer(Synthesizer):
    name = "toy"
    description = "noise pulled towards real images by gradient descent (a test synthesizer)"
    optimizes = True

    def synthesize(self, ctx, data, per_class):
        import torch

        from ddcore import DistilledSet

        opts = ctx.options_for("toy")
        g = ctx.generator("toy")
        classes = torch.arange(data.num_classes).repeat_interleave(per_class)
        targets = torch.stack([data.train_images[data.class_indices(int(c))[0]] for c in classes])
        images = torch.randn(targets.shape, generator=g)
        start = 0
        resumed = ctx.resume_state()
        if resumed is not None:
            state, start, _ = resumed
            images = state["images"]
            ctx.log(f"resumed at step {start}")
        for step in ctx.progress(range(start, opts.iterations), total=opts.iterations - start, desc="toy"):
            if ctx.dist.rank == opts.fail_rank and step == opts.fail_step:
                raise RuntimeError(f"toy fails on rank {ctx.dist.rank} at step {step}, as asked")
            if os.environ.get("DD_TOY_FAULT") == f"raise@{step}":  # a fault of this process only: --resume runs without it
                raise RuntimeError(f"toy fails at step {step}, as DD_TOY_FAULT asked")
            while step == opts.checkpoint_every and os.environ.get("DD_TOY_HOLD") and not os.path.exists(os.environ["DD_TOY_HOLD"]):
                time.sleep(0.05)  # a test holds the run here, after its first checkpoint, until it creates that file
            x = images.clone().requires_grad_(True)
            noise = 0.01 * torch.randn(x.shape, generator=g)
            terms = MatchingTerms(numerator=((x - targets) ** 2).flatten(), denominator=(targets**2 + 1).flatten(), iteration=step)
            loss = ctx.matching_loss(terms)
            (grad,) = torch.autograd.grad(loss, x)
            grad = ctx.weight_pixel_gradients(PixelGradients(grad=grad, images=x.detach(), labels=classes, iteration=step))
            images = (x - opts.lr * grad * x.numel() + noise).detach()
            ctx.record("loss", loss.item(), step)
            if (step + 1) % opts.checkpoint_every == 0:
                ctx.checkpoint({"images": images}, step + 1)
            if opts.sleep:
                time.sleep(opts.sleep)
        if os.environ.get("DD_TOY_FAULT") == "nan":
            images[0, 0, 0, 0] = float("nan")
        return DistilledSet.from_real(data, images=images, classes=classes)


@hookimpl
def register_synthesizers(register):
    register(ToySynthesizer())


@hookimpl
def register_modifiers(register):
    from .weights import ToyWeights

    register(ToyWeights())


@hookimpl
def register_options(register):
    from .weights import ToyWeightOptions

    register("toy", ToyOptions)
    register("toy_weights", ToyWeightOptions)


@hookimpl
def register_models(register):
    from .extras import build_toymlp, check_toymlp

    register(ModelSpec("toymlp", build_toymlp, "toymlp[-hN] (a one-hidden-layer MLP of the toy plugin)", check=check_toymlp))


@hookimpl
def register_evaluators(register):
    from .extras import NearestMean

    register(NearestMean())


@hookimpl
def register_datasets(register):
    from .extras import load_toy_blobs

    register(DatasetSpec("toy_blobs", load_toy_blobs, "toy_blobs[:SEED] — 4 classes of Gaussian blobs (the toy plugin)"))


@hookimpl
def register_scorers(register):
    from .extras import ToyBrightness

    register(ToyBrightness())


@hookimpl
def register_selectors(register):
    from .extras import ToyBrightest

    register(ToyBrightest())


@hookimpl
def register_dataset_transforms(register):
    from .extras import negate

    register(DatasetTransform("toy_negate", negate, "?toy_negate=1 — every image times −1 (the toy plugin)"))


@hookimpl
def report_stage(stage):
    """The report section of a ``toy`` stage: how far its images moved from the noise."""
    return f"<p class='toy'>toy made {len(stage.after)} images.</p>"


@hookimpl
def register_commands(cli):
    @cli.group()
    def toy():
        """Commands of the toy test plugin."""

    @toy.command()
    def hello():
        """Say hello (proves register_commands)."""
        import click

        click.echo("hello from dd-toy")
