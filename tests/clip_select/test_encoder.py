"""The open_clip encoder offline: a tiny registered config, weights through a real file path and a
local-dir folder, the model's preprocessing on tensors, and a clear error for missing weights."""

from __future__ import annotations

import json

import pytest
import torch

from ddcore.errors import ConfigError
from dd_clip_select.encoder import create_encoder


def test_weights_file_loads_into_the_named_config_and_embeds_like_the_original(tiny_clip):
    folder, model = tiny_clip
    enc = create_encoder("dd-test-tiny-clip", str(folder / "weights.pt"), torch.device("cpu"))
    assert "file" in enc.description
    images = torch.rand(3, 1, 8, 8)  # grey, small: repeated to RGB and resized by the model's own transform
    emb = enc.images(images)
    assert emb.shape == (3, 32) and torch.allclose(emb.norm(dim=1), torch.ones(3))
    x = enc.prepare(images)
    assert x.shape == (3, 3, 32, 32)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_image(x), dim=1)
    assert torch.allclose(emb, ref, atol=1e-5)
    text = enc.classes(["cat", "dog"], ["a photo of a {}.", "a {}."])
    assert text.shape == (2, 32) and torch.allclose(text.norm(dim=1), torch.ones(2))


def test_local_dir_folder_round_trips(tiny_clip, tmp_path):
    from safetensors.torch import save_file

    folder, model = tiny_clip
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": json.loads((folder / "dd-test-tiny-clip.json").read_text())}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "open_clip_model.safetensors"))
    enc = create_encoder(f"local-dir:{tmp_path}", None, torch.device("cpu"))
    ref = create_encoder("dd-test-tiny-clip", str(folder / "weights.pt"), torch.device("cpu"))
    images = torch.rand(2, 3, 32, 32)
    assert torch.allclose(enc.images(images), ref.images(images), atol=1e-6)


def test_missing_weights_are_one_sentence(tiny_clip):
    with pytest.raises(ConfigError, match="could not load weights"):
        create_encoder("dd-test-tiny-clip", "no-such-tag", torch.device("cpu"))


def test_bf16_embeddings_stay_close_to_fp32(tiny_clip):
    folder, _ = tiny_clip
    enc = create_encoder("dd-test-tiny-clip", str(folder / "weights.pt"), torch.device("cpu"))
    images = torch.rand(4, 3, 32, 32)
    fp32 = enc.images(images)
    enc.precision = "bf16"
    bf16 = enc.images(images)
    assert bf16.dtype == torch.float32 and not torch.equal(fp32, bf16)
    assert (fp32 * bf16).sum(1).min() > 0.98  # cosine similarity of unit vectors
