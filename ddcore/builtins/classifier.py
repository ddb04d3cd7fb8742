"""A classifier trained on the real training data, cached by content.

Several methods need one: herding's feature space, EDF's Grad-CAM model, detector_refine's
detector. The cache key holds the data fingerprint, the architecture and every training
setting, so a second run (or another plugin asking for the same thing) reuses it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import torch
from torch import nn

from ddcore.context import derive_seed
from ddcore.models import architecture_fingerprint, build_model
from ddcore.progress import progress_bar
from .augment import Draws
from .cache_claims import claimed
from .training import TrainSettings, accuracy, data_rows, progress_file, train_classifier

if TYPE_CHECKING:  # pragma: no cover
    from ddcore.cache import Cache
    from ddcore.realdata import RealData

CODE_VERSION = 1  # bump when training changes in a way the cache key cannot see


def real_data_classifier(
    cache: Cache, data: RealData, model: str, settings: TrainSettings, seed: int, device: torch.device,
    log=None, quiet: bool = False,
) -> nn.Module:
    """The trained network (eval mode, on ``device``); trains and caches it on first use.

    ``log``: where progress lines go (``ctx.log`` in a stage); by default the ``ddcore`` logger.
    """
    if log is None:
        from ddcore.logs import logger_for

        log = logger_for().info
    torch.manual_seed(derive_seed(seed, "init", model))
    net = build_model(model, data.image_shape[0], data.num_classes, data.image_shape[1:])
    spec = {
        "data": data.fingerprint(), "model": model, "architecture": architecture_fingerprint(net), "settings": asdict(settings),
        "seed": seed, "code": CODE_VERSION, "shape": list(data.image_shape), "classes": data.num_classes,
    }
    state, trained = cache.load("classifier", spec), False
    if state is None:
        with claimed(cache, "classifier", spec, log=log):  # another process training the same one: wait, then load it
            state = cache.load("classifier", spec)
            if state is None:
                state, trained = _train(cache, spec, net, data, model, settings, seed, device, log, quiet), True
    if not trained:
        log(f"{model} classifier from the cache ({float(state['_test_accuracy']):.1%} test accuracy)")
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("_")})
    net.test_accuracy = float(state["_test_accuracy"])  # type: ignore[attr-defined]
    return net.to(device).eval()


def _train(cache: Cache, spec: dict, net: nn.Module, data: RealData, model: str, settings: TrainSettings, seed: int,
           device: torch.device, log, quiet: bool) -> dict[str, torch.Tensor]:
    """Train ``net`` on the real data (continuing an interrupted training), cache its state with its test accuracy."""
    log(f"training a {model} classifier on {len(data.train_labels)} real images for {settings.epochs} epochs (cached afterwards)")
    g = Draws.seeded(derive_seed(seed, "train", model), device)  # DSA drawn where the images are
    bar = lambda it: progress_bar(it, desc=f"train {model}", quiet=quiet)  # noqa: E731
    entry = cache.file_for("classifier", spec)
    partial = progress_file(cache, "classifier", spec)  # each epoch: a killed run continues from it
    if partial.exists():
        log(f"continuing the interrupted training of the {model} classifier from {partial}")
    train_classifier(net, data_rows(data, device), data.train_labels, settings, g, device, progress=bar, resume_file=partial)
    acc = accuracy(net, data_rows(data, device, "test"), data.test_labels, device)
    state = {k: v for k, v in net.state_dict().items()}
    state["_test_accuracy"] = torch.tensor(acc)
    cache.save("classifier", spec, state)
    partial.unlink(missing_ok=True)
    log(f"{model} classifier: {acc:.1%} test accuracy; saved to {entry}")
    return state
