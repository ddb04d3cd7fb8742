"""Built-in selection baselines: ``random``, ``herding`` and ``kcenter``.

Any selection plugin must beat these on the same pool. Herding (Welling 2009; the coreset
baseline of the DC/MTT papers) greedily picks the images whose running feature mean stays
closest to the class mean; k-center (Sener & Savarese 2018) greedily picks the image farthest
from those already picked, starting from the one nearest the class mean. Both work in the
feature space of a ConvNet trained on the real data (``embedding="trained"``, cached) or of a
randomly initialised one (``embedding="random"``).
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


class KCenterOptions(HerdingOptions):
    """The same feature extractor as herding's, as the ``kcenter`` stage's own options."""


def kcenter_order(features: torch.Tensor, k: int) -> list[int]:
    """Greedy k-center: the row nearest the mean, then each time the row farthest from every row chosen."""
    import torch

    first = int((features - features.mean(0)).norm(dim=1).argmin())
    chosen = [first]
    nearest = (features - features[first]).norm(dim=1)  # each row's distance to the chosen set
    for _ in range(1, min(k, len(features))):
        nearest[chosen] = -1.0
        i = int(nearest.argmax())
        chosen.append(i)
        nearest = torch.minimum(nearest, (features - features[i]).norm(dim=1))
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
    order = staticmethod(herding_order)

    def select(self, ctx: RunContext, pool: DistilledSet, data: RealData, ipc: int) -> DistilledSet:
        import torch

        net = herding_features(ctx, data, ctx.options_for(self.name))
        with torch.no_grad():
            feats = torch.cat([net.embed(b.to(ctx.device)).cpu() for b in pool.images.split(256)])
        keep = []
        for c in range(pool.num_classes):
            idx = pool.indices_of_class(c)
            keep.append(idx[self.order(feats[idx], ipc)])
        return pool.subset(torch.cat(keep))


class KCenterSelector(HerdingSelector):
    name = "kcenter"
    description = "greedy k-center per class in the same ConvNet features as herding (a coreset that covers the class)"
    order = staticmethod(kcenter_order)


@hookimpl
def register_selectors(register):
    register(RandomSelector())
    register(HerdingSelector())
    register(KCenterSelector())


@hookimpl
def register_options(register):
    register("herding", HerdingOptions)
    register("kcenter", KCenterOptions)
