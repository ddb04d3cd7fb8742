"""A tiny open_clip config registered for the tests (offline, random weights saved to a real file)."""

from __future__ import annotations

import json

import pytest
import torch

TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    import open_clip

    folder = tmp_path_factory.mktemp("clip")
    (folder / "dd-test-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder / "dd-test-tiny-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("dd-test-tiny-clip").eval()
    torch.save(model.state_dict(), folder / "weights.pt")
    return folder, model
