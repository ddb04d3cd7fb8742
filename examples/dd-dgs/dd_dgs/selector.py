"""The ``dgs`` selection stage: per class, match the real data's difficulty histogram."""

from __future__ import annotations

import torch

from ddcore import Selector


def difficulty(net: torch.nn.Module, images: torch.Tensor, classes: torch.Tensor, device: torch.device) -> torch.Tensor:
    """1 − p(y | x) for every image (batched, on the run's device)."""
    out = []
    with torch.no_grad():
        for x, y in zip(images.split(512), classes.split(512)):
            p = net(x.to(device)).softmax(1).cpu()
            out.append(1 - p[torch.arange(len(y)), y])
    return torch.cat(out)


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
        d_pool = difficulty(net, pool.images, pool.classes, ctx.device)
        d_real = difficulty(net, data.train_images, data.train_labels, ctx.device)
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
