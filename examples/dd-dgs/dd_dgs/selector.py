"""The ``dgs`` selection stage: per class, match the real data's difficulty histogram."""

from __future__ import annotations

import torch

from ddcore import Selector


def difficulty(net: torch.nn.Module, batches, device: torch.device) -> torch.Tensor:
    """1 − p(y | x) for every image of the (images, classes) batches, on the run's device."""
    out = []
    with torch.no_grad():
        for x, y in batches:
            p = net(x.to(device)).softmax(1).cpu()
            out.append(1 - p[torch.arange(len(y)), y])
    return torch.cat(out)


def real_batches(data, device: torch.device, size: int = 512):
    """The real training split a batch at a time: ``images_of`` normalises only those rows, so the
    split stays in its compact source form on the host."""
    for idx in torch.arange(len(data.train_labels)).split(size):
        yield data.images_of("train", idx, device), data.train_labels[idx]


class DifficultyGuidedSelector(Selector):
    name = "dgs"
    description = "difficulty-guided sampling: keep IPC per class whose difficulty histogram matches the real class's"
    mode = "select"

    def select(self, ctx, pool, data, ipc):
        from ddcore import TrainSettings, real_data_classifier

        from .difficulty import bounds, choose_clipping, histogram, largest_remainder, log_transform, sample_by_bins

        opts = ctx.options_for("dgs")
        net = real_data_classifier(ctx.cache, data, opts.model, TrainSettings(epochs=opts.epochs), ctx.seed, ctx.device,
                                   log=ctx.log, quiet=ctx.quiet)
        d_pool = difficulty(net, zip(pool.images.split(512), pool.classes.split(512)), ctx.device)
        d_real = difficulty(net, real_batches(data, ctx.device), ctx.device)
        g = ctx.generator("dgs-sampling")
        keep, transformed = [], torch.zeros(len(pool))
        for c in range(pool.num_classes):
            idx, real = pool.indices_of_class(c), d_real[data.train_labels == c]
            b, t = choose_clipping(d_pool[idx], ipc, opts.bins)
            pool_t = log_transform(d_pool[idx], *bounds(d_pool[idx], b, t))
            target = largest_remainder(histogram(log_transform(real, *bounds(real, b, t)), opts.bins), ipc)
            pool_bins = (pool_t * opts.bins).long().clamp_max(opts.bins - 1)
            keep.append(idx[sample_by_bins(pool_bins, target, g)])
            transformed[idx] = pool_t
        ctx.log(f"difficulty 1 − p(y|x) from {opts.model} ({net.test_accuracy:.1%} test accuracy): pool mean {d_pool.mean():.3f}, "
                f"real mean {d_real.mean():.3f}")
        keep = torch.cat(keep)
        return pool.with_columns(dgs_difficulty=d_pool, dgs_transformed=transformed).subset(keep)
