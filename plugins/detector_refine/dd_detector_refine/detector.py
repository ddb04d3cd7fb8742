"""The detector: a classifier of the real data whose verdict decides which images are anomalous.

Trained on the run's real training split and cached (``ddcore.classifier``), or loaded from a
user's state_dict without unpickling. It reads images in the dataset's normalised space and
gives class probabilities and L2-normalised penultimate features (the space dissimilarity is
measured in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ddcore import autocast

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import RealData, RunContext

    from .options import DetectorRefineOptions


@dataclass
class Detector:
    net: nn.Module
    description: str
    test_accuracy: float | None = None
    precision: str = "fp32"  # forward passes under bf16 autocast when "bf16"

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """p(k | x) for normalised images, (N, classes), on the CPU."""
        with autocast(self.precision, self.device):
            return torch.cat([self.net(b.to(self.device)).float().softmax(1).cpu() for b in images.split(batch_size)])

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """L2-normalised penultimate features g(x), (N, D), on the CPU."""
        with autocast(self.precision, self.device):
            return torch.cat([F.normalize(self.net.embed(b.to(self.device)).float().flatten(1), dim=1).cpu()
                              for b in images.split(batch_size)])


def load_detector(ctx: RunContext, data: RealData, opts: DetectorRefineOptions) -> Detector:
    """The user's checkpoint when given, else the cached classifier trained on ``data``."""
    from ddcore import TrainSettings, build_model, real_data_classifier

    if opts.detector_weights:
        net = build_model(opts.detector_model, data.image_shape[0], data.num_classes, data.image_shape[1:])
        load_state(net, Path(opts.detector_weights))
        return Detector(net.to(ctx.device).eval(), f"{opts.detector_model} from {opts.detector_weights}", precision=opts.precision)
    with ctx.dist.main_first():  # torchrun: rank 0 trains and caches it, the others load it
        net = real_data_classifier(ctx.cache, data, opts.detector_model,
                                   TrainSettings(epochs=opts.detector_epochs, precision=opts.precision), ctx.seed,
                                   ctx.device, log=ctx.log, quiet=ctx.quiet)
    acc = getattr(net, "test_accuracy", None)
    return Detector(net, f"{opts.detector_model} trained on {data.name} ({opts.detector_epochs} epochs)", acc, opts.precision)


def load_state(net: nn.Module, path: Path) -> None:
    """The user's detector weights (``ddcore.load_weights``: no unpickling, one-sentence errors)."""
    from ddcore import load_weights

    load_weights(net, path, "detector weights", "the detector_model architecture for this dataset",
                 "set -o detector_refine.detector_model to the one they were saved from.")