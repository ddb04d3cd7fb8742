"""ImageNet subsets and Comp-DD read the right classes from a local ImageNet tree."""

from __future__ import annotations

import numpy as np
import pytest

from ddcore.errors import ConfigError, DataError
from dd_edf.subsets import COMP_DD, IMAGENET_SUBSETS, dataset_specs


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    pixel = Image.fromarray(np.zeros((6, 6, 3), dtype=np.uint8))
    for split in ("train", "val"):
        for i in range(1000):
            folder = root / split / f"n{i:08d}"
            folder.mkdir(parents=True)
            pixel.save(folder / "a.png")
    return root


def specs():
    return {s.name: s for s in dataset_specs()}


def test_subset_classes_follow_the_published_indices(imagenet, tmp_path):
    d = specs()["imagenette"].load(f"{imagenet}?size=4", {"cache_dir": tmp_path})
    assert d.class_names == [f"n{i:08d}" for i in IMAGENET_SUBSETS["imagenette"]]
    assert d.train_images.shape == (10, 3, 4, 4) and d.test_labels.tolist() == list(range(10))


def test_comp_dd_subsets_by_full_name(imagenet, tmp_path):
    d = specs()["comp-dd"].load(f"music_hard:{imagenet}?size=4", {"cache_dir": tmp_path})
    assert len(d.class_names) == 9 == len(set(COMP_DD["music_hard"]))  # published with a duplicate
    assert all(len(v) == len(set(v)) for v in COMP_DD.values()) and len(COMP_DD) == 16
    with pytest.raises(ConfigError, match="birds_hard"):
        specs()["comp-dd"].load(f"birds:{imagenet}", {})


def test_a_partial_imagenet_is_refused(tmp_path):
    (tmp_path / "train" / "n0").mkdir(parents=True)
    with pytest.raises(DataError, match="not ImageNet-1k's 1000"):
        specs()["imagewoof"].load(str(tmp_path), {})


def test_a_cam_network_trained_on_imagenet_explains_each_subset_class_by_its_imagenet_index(imagenet, tmp_path, monkeypatch):
    """edf.cam_weights: a 1000-class network from a local file (as EDF's code), run class c explained as ImageNet class idx[c]."""
    import torch
    from safetensors.torch import save_file

    import dd_edf
    from ddcore import ConfigError as Refused
    from ddcore import build_model, testing
    from dd_edf.dae import refresh_weights
    from tiny_settings import EDF_TINY

    monkeypatch.setenv("DD_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    cam = build_model("convnet-w8", 3, 1000, (8, 8))
    save_file({k: v.contiguous() for k, v in cam.state_dict().items()}, str(tmp_path / "imagenet-cam.safetensors"))
    options = {"edf": {**EDF_TINY, "iterations": 2, "dae_interval": 1, "cam_model": "convnet-w8",
                       "cam_weights": str(tmp_path / "imagenet-cam.safetensors")}}
    manager = testing.make_plugin_manager((dd_edf, "edf"))
    testing.run_tiny(["edf"], tmp_path / "run", dataset=f"imagenette:{imagenet}?size=8", options=options, manager=manager)
    assert f"explaining ImageNet classes {IMAGENET_SUBSETS['imagenette']}" in (tmp_path / "run" / "log.txt").read_text()
    x, labels = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 9])
    index = torch.tensor(IMAGENET_SUBSETS["imagenette"])
    ours = refresh_weights(cam.eval(), 2, x, labels, beta=1.0, threshold=None, class_index=index)
    expected = refresh_weights(cam, 2, x, index[labels], beta=1.0, threshold=None)
    assert torch.equal(ours, expected) and not torch.equal(ours, refresh_weights(cam, 2, x, labels, 1.0, None))
    with pytest.raises(Refused, match="not one of the ImageNet subsets"):
        testing.run_tiny(["edf"], tmp_path / "digits", options=options, manager=manager)
