"""`fit_clip`: a small open_clip model trained with ClipLoss on the real digits, saved as a
local-dir folder that reloads through the user path and classifies zero-shot far above chance."""

from __future__ import annotations

import torch

from ddcore.cache import Cache
from ddcore.builtins.data.embedded import load_digits
from dd_clip_select.encoder import create_encoder
from dd_clip_select.fit import FitSettings, fit_clip


def test_fitted_model_reloads_and_classifies_zero_shot(tmp_path):
    data, logs = load_digits(), []
    templates = ["a photo of the digit {}.", "a handwritten {}."]
    settings = FitSettings(epochs=2)
    folder = fit_clip(Cache(tmp_path), data, settings, templates, 0, torch.device("cpu"), log=logs.append, quiet=True)
    assert (folder / "open_clip_config.json").is_file() and (folder / "open_clip_model.safetensors").is_file()
    again = fit_clip(Cache(tmp_path), data, settings, templates, 0, torch.device("cpu"), log=logs.append, quiet=True)
    assert again == folder and sum("fitting a small open_clip" in m for m in logs) == 1
    enc = create_encoder(f"local-dir:{folder}", None, torch.device("cpu"))
    scores = enc.images(data.denormalize(data.test_images)) @ enc.classes(data.class_names, templates).T
    accuracy = float((scores.argmax(1) == data.test_labels).float().mean())
    assert accuracy > 0.5, f"zero-shot accuracy {accuracy:.2f} is near chance (0.10): the contrastive training did not work"
