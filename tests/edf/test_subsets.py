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
