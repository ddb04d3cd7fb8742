"""Anomaly detection (paper's criteria): an image is anomalous when the detector disagrees with its
label or trusts it too little.

    anomalous(x, c) = argmax_k p(k|x) ≠ c  or  p(c|x) < β

As the scorer ``detector_refine`` (``components.py``) it adds the columns ``detector_confidence``
(p(c|x)), ``detector_agrees`` (argmax = c) and ``anomalous`` to the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import DistilledSet, RealData, RunContext


def label_confidence(probs: torch.Tensor, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(p(c|x), argmax = c) for each row of ``probs`` and its class."""
    conf = probs[torch.arange(len(classes)), classes]
    return conf, probs.argmax(1) == classes


def anomaly_mask(probs: torch.Tensor, classes: torch.Tensor, beta: float) -> torch.Tensor:
    """True where the label does not match the detector's argmax or its probability is below β."""
    return anomaly_columns(probs, classes, beta)["anomalous"].bool()


def anomaly_columns(probs: torch.Tensor, classes: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
    conf, agrees = label_confidence(probs, classes)
    return {"detector_confidence": conf.float(), "detector_agrees": agrees.to(torch.uint8),
            "anomalous": (~agrees | (conf < beta)).to(torch.uint8)}


def score_anomalies(ctx: RunContext, pool: DistilledSet, data: RealData) -> dict[str, torch.Tensor]:
    """The anomaly columns of ``pool`` under the run's detector and β."""
    from .detector import load_detector

    opts = ctx.options_for("detector_refine")
    detector = load_detector(ctx, data, opts)
    cols = anomaly_columns(detector.probabilities(pool.images), pool.classes, opts.beta)
    rate = cols["anomalous"].float().mean().item()
    ctx.log(f"detector {detector.description}: {int(cols['anomalous'].sum())} of {len(pool)} images anomalous ({rate:.1%}; β = {opts.beta})")
    return cols
