"""Real datasets: the embedded ones, image folders and CIFAR's on-disk format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ddcore.builtins.data.cifar import load_cifar
from ddcore.builtins.data.embedded import load_digits, load_mnist5k
from ddcore.builtins.data.imagefolder import load_imagefolder
from ddcore.errors import ConfigError, DataError


def test_digits_has_a_fixed_stratified_split_and_travelling_statistics():
    a, b = load_digits(), load_digits()
    assert a.train_images.shape == (1437, 1, 8, 8) and a.test_images.shape == (360, 1, 8, 8)
    assert a.train_images.equal(b.train_images) and a.fingerprint() == b.fingerprint()
    assert all(35 <= n <= 37 for n in torch.bincount(a.test_labels).tolist())  # stratified
    # normalised with the training split's statistics, which travel with the data
    assert abs(a.train_images.mean().item()) < 1e-4 and abs(a.train_images.std().item() - 1) < 1e-2
    pixels = a.denormalize(a.train_images)
    assert pixels.min() >= 0 and pixels.max() <= 1 and a.class_names == [str(i) for i in range(10)]


def test_mnist5k_is_real_28px_mnist():
    d = load_mnist5k()
    assert d.train_images.shape == (4000, 1, 28, 28) and d.test_images.shape == (1000, 1, 28, 28)
    assert torch.bincount(d.train_labels).tolist() == [400] * 10


def write_folder(root, classes=("cat", "dog"), per_class=3, size=(12, 10), mode="RGB"):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                arr[..., c % 3] = 200 + c
                Image.fromarray(arr).convert(mode).save(folder / f"{i}.png")


def test_imagefolder_reads_splits_classes_and_resizes(tmp_path):
    write_folder(tmp_path / "ds", classes=("cat", "dog", "eel"))
    d = load_imagefolder(str(tmp_path / "ds"), {"cache_dir": tmp_path / "cache"})
    assert d.class_names == ["cat", "dog", "eel"] and d.train_images.shape == (9, 3, 10, 12)
    assert d.test_images.shape == (9, 3, 10, 12) and d.train_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    sub = load_imagefolder(f"{tmp_path / 'ds'}?size=8&classes=eel,cat", {"cache_dir": tmp_path / "cache"})
    assert sub.class_names == ["eel", "cat"] and sub.train_images.shape == (6, 3, 8, 8)
    # the decode is cached: a second load reads the cache and gives identical tensors
    assert list((tmp_path / "cache" / "imagefolder").glob("*.safetensors"))
    again = load_imagefolder(f"{tmp_path / 'ds'}?size=8&classes=eel,cat", {"cache_dir": tmp_path / "cache"})
    assert again.train_images.equal(sub.train_images)


def test_tiny_imagenet_is_read_in_its_own_layout(tmp_path):
    """train/<wnid>/images/*.JPEG and val/images/ with val_annotations.txt, as Tiny-ImageNet unpacks."""
    from PIL import Image

    root = tmp_path / "tiny-imagenet-200"
    wnids, notes = ["n01443537", "n01629819", "n01641577"], []
    for c, wnid in enumerate(wnids):
        (root / "train" / wnid / "images").mkdir(parents=True)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for i in range(3):
            Image.fromarray(np.full((16, 16, 3), 40 * c + i, dtype=np.uint8)).save(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG")
    (root / "val" / "images").mkdir(parents=True)
    for i, c in enumerate([2, 0, 1, 0, 2]):  # shuffled, as the real file is
        Image.fromarray(np.full((16, 16, 3), 40 * c, dtype=np.uint8)).save(root / "val" / "images" / f"val_{i}.JPEG")
        notes.append(f"val_{i}.JPEG\t{wnids[c]}\t0\t0\t15\t15")
    (root / "val" / "val_annotations.txt").write_text("\n".join(notes) + "\n")
    d = load_imagefolder(f"{root}?size=8")
    assert d.class_names == wnids and d.train_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert d.test_labels.tolist() == [0, 0, 1, 2, 2]
    means = d.test_pixels.float().mean(dim=(1, 2, 3))  # each validation image's colour says its class: 0, 40, 80
    assert torch.allclose(means, torch.tensor([0.0, 0.0, 40.0, 80.0, 80.0]), atol=2)
    (root / "val" / "val_annotations.txt").write_text(notes[0].replace("val_0", "val_9") + "\n")
    with pytest.raises(DataError, match="val_9.JPEG, which does not exist"):
        load_imagefolder(f"{root}?size=8")


def test_imagefolder_errors_are_sentences(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_imagefolder(str(tmp_path / "missing"))
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="val/ or test/"):
        load_imagefolder(str(tmp_path / "empty"))
    write_folder(tmp_path / "ds")
    with pytest.raises(DataError, match="no class folder 'cow'"):
        load_imagefolder(f"{tmp_path / 'ds'}?classes=cow")
    with pytest.raises(ConfigError, match="unknown"):
        load_imagefolder(f"{tmp_path / 'ds'}?colour=1")
    (tmp_path / "ds" / "train" / "cat" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="9.png is not a readable image"):
        load_imagefolder(str(tmp_path / "ds"))


def test_imagefolder_with_mixed_sizes_asks_for_size(tmp_path):
    from PIL import Image

    write_folder(tmp_path / "ds")
    Image.new("RGB", (20, 20)).save(tmp_path / "ds" / "train" / "cat" / "big.png")
    with pytest.raises(DataError, match=r"\?size=N"):
        load_imagefolder(str(tmp_path / "ds"))
    assert load_imagefolder(f"{tmp_path / 'ds'}?size=6").train_images.shape[1:] == (3, 6, 6)


def write_cifar10(root, n=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    return folder


def test_cifar10_on_disk_format_is_read_with_the_official_split(tmp_path):
    write_cifar10(tmp_path)
    d = load_cifar("cifar10", str(tmp_path))
    assert d.train_images.shape == (100, 3, 32, 32) and d.test_images.shape == (20, 3, 32, 32)
    assert d.class_names[:2] == ["c0", "c1"] and d.split == "the official train/test split"


class Evil:
    def __reduce__(self):
        return (print, ("owned",))


def test_cifar_reader_refuses_pickles_that_would_run_code(tmp_path):
    folder = write_cifar10(tmp_path)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_cifar("cifar10", str(tmp_path))


def test_cifar_without_files_says_how_to_get_them(tmp_path):
    with pytest.raises(DataError, match="--download"):
        load_cifar("cifar10", str(tmp_path))


def test_builtin_datasets_keep_uint8_pixels_and_normalise_rows_on_demand():
    import torch

    from ddcore.builtins.data.embedded import load_mnist5k

    data = load_mnist5k()
    assert data.streamed() and data.train_pixels.dtype == torch.uint8 and data.image_shape == (1, 28, 28)
    assert "train_images" not in vars(data)  # nothing float is stored until someone reads the whole split
    rows = torch.tensor([5, 0, 17])
    first = data.images_of("train", rows)
    assert first.dtype == torch.float32 and abs(float(data.images_of("train").mean())) < 1e-3  # normalised
    assert torch.equal(data.train_images[rows], first)  # the float split, built once, holds the same values


def test_streamed_training_equals_training_on_the_float_split():
    import torch

    from ddcore.builtins.data.embedded import load_digits
    from ddcore.builtins.training import TrainSettings, data_rows, train_classifier
    from ddcore.models import build_model

    data = load_digits()
    nets = []
    for images in (data_rows(data, torch.device("cpu")), data.train_images):
        torch.manual_seed(0)
        net = build_model("convnet-w8", 1, 10, (8, 8))
        train_classifier(net, images, data.train_labels, TrainSettings(epochs=1), torch.Generator().manual_seed(0), torch.device("cpu"))
        nets.append(net)
    assert all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))


def test_a_plugin_dataset_with_float_images_still_works():
    import torch

    from ddcore.realdata import RealData

    x = torch.randn(12, 3, 4, 4)
    y = torch.arange(3).repeat(4)
    data = RealData("floaty", x, y, x[:3], y[:3], ["a", "b", "c"], (0.0,) * 3, (1.0,) * 3)
    assert not data.streamed() and data.train_images is x and torch.equal(data.images_of("train", torch.tensor([2])), x[2:3])
