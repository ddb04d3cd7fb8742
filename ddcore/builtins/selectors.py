"""Built-in selection baselines: ``random`` and ``herding``.

Any selection plugin must beat these on the same pool. Herding (Welling 2009; the coreset
baseline of the DC/MTT papers) greedily picks the images whose running feature mean stays
closest to the class mean, in the feature space of a ConvNet trained on the real data
(``embedding="trained"``, cached) or of a randomly initialised one (``embedding="random"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ddcore.components import Selector
from ddcore.hookspecs import hookimpl
from ddcore.models import ModelName
from ddcore.options import Options

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ddcore.artifact import DistilledSet
    from ddcore.context import RunContext
    from ddcore.realdata import RealData


class RandomSelector(Selector):
    name = "random"
    description = "keep a uniformly random subset of each class of the pool"
    mode = "select"

    def select(self, ctx: RunContext, pool: DistilledSet, data: RealData, ipc: int) -> DistilledSet:
        import torch

        g = ctx.generator("choice")
        keep = [pool.indices_of_class(c)[torch.randperm(int((pool.classes == c).sum()), generator=g)[:ipc]] for c in range(pool.num_classes)]
        return pool.subset(torch.cat(keep))


class HerdingOptions(Options):
    embedding: Literal["trained", "random"] = Field("trained", description="feature extractor: a ConvNet trained on the real data (cached) or a random one")
    model: ModelName = Field("convnet", description="architecture of the feature extractor (any evaluation model name)")
    epochs: int = Field(30, ge=1, description="training epochs of the feature extractor when embedding=trained")


def herding_order(features: torch.Tensor, k: int) -> list[int]:
    """Indices of ``k`` rows whose running mean tracks the mean of all rows most closely."""
    import torch

    mu = features.mean(0)
    chosen: list[int] = []
    running = torch.zeros_like(mu)
    available = torch.ones(len(features), dtype=torch.bool)
    for t in range(1, k + 1):
        candidate_means = (running.unsqueeze(0) + features) / t
        dist = (candidate_means - mu).norm(dim=1)
        dist[~available] = float("inf")
        i = int(dist.argmin())
        chosen.append(i)
        available[i] = False
        running = running + features[i]
    return chosen


def herding_features(ctx: RunContext, data: RealData, opts: HerdingOptions):
    """The embedding network: trained on the real data (cached) or randomly initialised."""
    import torch

    from ddcore.builtins.classifier import real_data_classifier
    from ddcore.context import derive_seed
    from ddcore.models import build_model
    from ddcore.builtins.training import TrainSettings

    if opts.embedding == "trained":
        return real_data_classifier(ctx.cache, data, opts.model, TrainSettings(epochs=opts.epochs), ctx.seed, ctx.device,
                                    log=ctx.log, quiet=ctx.quiet)
    torch.manual_seed(derive_seed(ctx.seed, "herding-random", opts.model))
    return build_model(opts.model, data.image_shape[0], data.num_classes, data.image_shape[1:]).to(ctx.device).eval()


class HerdingSelector(Selector):
    name = "herding"
    description = "feature-space herding per class (ConvNet features, trained on the real data or random)"
    mode = "select"

    def select(self, ctx: RunContext, pool: DistilledSet, data: RealData, ipc: int) -> DistilledSet:
        import torch

        opts = ctx.options_for("herding")
        net = herding_features(ctx, data, opts)
        with torch.no_grad():
            feats = torch.cat([net.embed(b.to(ctx.device)).cpu() for b in pool.images.split(256)])
        keep = []
        for c in range(pool.num_classes):
            idx = pool.indices_of_class(c)
            keep.append(idx[herding_order(feats[idx], ipc)])
        return pool.subset(torch.cat(keep))


@hookimpl
def register_selectors(register):
    register(RandomSelector())
    register(HerdingSelector())


@hookimpl
def register_options(register):
    register("herding", HerdingOptions)
