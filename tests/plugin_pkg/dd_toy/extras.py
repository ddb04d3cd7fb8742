"""What the toy package adds besides its stages: a model family, an evaluator and a dataset transform.

Each is registered through the hook a third party uses (``__init__.py``), so tests can prove the
extension points: ``toymlp[-hN]`` names, ``--evaluator toy_nearest_mean`` and ``?toy_negate=1``.
"""

from __future__ import annotations

import re

from pydantic import Field

from ddcore import Evaluator, Options


def check_toymlp(name: str) -> None:
    if not re.fullmatch(r"toymlp(-h\d+)?", name):
        raise ValueError("use toymlp or toymlp-hN")


def build_toymlp(name, channels, num_classes, image_size):
    from torch import nn

    hidden = int(name.split("-h")[1]) if "-h" in name else 16

    class ToyMlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size[0] * image_size[1], hidden), nn.ReLU())
            self.head = nn.Linear(hidden, num_classes)

        def embed(self, x):
            return self.body(x)

        def forward(self, x):
            return self.head(self.body(x))

    return ToyMlp()


class NearestMeanOptions(Options):
    metric: str = Field("l2", description="distance to the class means: l2 (the only one)")


class NearestMean(Evaluator):
    """Classifies each test image by the nearest per-class mean of the set: cheap and deterministic."""

    name = "toy_nearest_mean"
    description = "nearest class mean of the set's images, on the real test split (a test evaluator)"
    options = NearestMeanOptions

    def evaluate(self, ctx, dset, data, options, baselines):
        import torch

        means = torch.stack([dset.images[dset.indices_of_class(c)].float().mean(0) for c in range(dset.num_classes)])
        dist = torch.cdist(data.test_images.flatten(1), means.flatten(1))
        acc = float((dist.argmin(1) == data.test_labels).float().mean()) * 100
        return {"distilled": {"mean": round(acc, 3), "std": 0.0}, "metric": options.metric}

    def summary(self, result):
        return f"nearest class mean: {result['distilled']['mean']:.2f} %"


def negate(data, value, cache):
    """The ``toy_negate`` transform: ``?toy_negate=1`` flips the sign of every image."""
    from dataclasses import replace

    if value != "1":
        from ddcore import ConfigError

        raise ConfigError(f"toy_negate={value!r}: use toy_negate=1.")
    return replace(data, train_images=-data.train_images, test_images=-data.test_images, _fingerprint=None)
