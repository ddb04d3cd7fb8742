"""DistilledSet file format: exact round trip, atomic writes, clear errors, no unpickling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddcore.artifact import DistilledSet
from ddcore.errors import DataError


def make_set(n_per_class=2, soft=False):
    classes = torch.arange(3).repeat_interleave(n_per_class)
    n = len(classes)
    return DistilledSet(
        images=torch.randn(n, 1, 8, 8),
        classes=classes,
        class_names=["a", "b", "c"],
        mean=(0.5,),
        std=(0.25,),
        soft_labels=torch.randn(n, 3) if soft else None,
        lr=0.0123 if soft else None,
        columns={"score": torch.linspace(0, 1, n), "origin": ["x"] * n},
        facts={"ipc": n_per_class, "stages": [{"stage": "real"}]},
    )


@pytest.mark.parametrize("soft", [False, True])
def test_round_trip_is_exact(tmp_path, soft):
    a = make_set(soft=soft)
    path = a.save(tmp_path / "run")
    assert path.name == "distilled.safetensors"
    b = DistilledSet.load(tmp_path / "run")
    assert b.images.equal(a.images) and b.classes.equal(a.classes)
    assert (b.soft_labels is None) == (not soft)
    if soft:
        assert b.soft_labels.equal(a.soft_labels) and b.lr == pytest.approx(0.0123)
    assert b.columns["score"].equal(a.columns["score"]) and b.columns["origin"] == ["x"] * 6
    assert b.facts == a.facts and b.class_names == a.class_names and b.mean == a.mean


def test_subset_keeps_columns_aligned():
    a = make_set()
    s = a.subset([5, 0])
    assert s.classes.tolist() == [2, 0]
    assert s.columns["score"].tolist() == [a.columns["score"][5].item(), 0.0]


def test_truncated_file_gives_one_sentence(tmp_path):
    path = make_set().save(tmp_path / "x.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt or truncated") as info:
        DistilledSet.load(path)
    assert "\n" not in str(info.value)


def test_garbage_and_foreign_files_are_refused(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04not a safetensors file at all")
    with pytest.raises(DataError, match="not a readable safetensors"):
        DistilledSet.load(junk)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(DataError, match="not a ddcore artifact"):
        DistilledSet.load(foreign)
    with pytest.raises(DataError, match="no distilled set"):
        DistilledSet.load(tmp_path / "missing")


def test_inconsistent_tensors_are_refused():
    with pytest.raises(DataError, match="soft labels"):
        DistilledSet(images=torch.zeros(2, 1, 4, 4), classes=torch.tensor([0, 1]), class_names=["a", "b"],
                     mean=(0.0,), std=(1.0,), soft_labels=torch.zeros(2, 3))
    with pytest.raises(DataError, match="classes must lie"):
        DistilledSet(images=torch.zeros(2, 1, 4, 4), classes=torch.tensor([0, 5]), class_names=["a", "b"], mean=(0.0,), std=(1.0,))


def test_a_failed_save_leaves_the_old_artifact_and_no_temporary_file(tmp_path, monkeypatch):
    good = make_set()
    path = good.save(tmp_path / "a.safetensors")
    before = path.read_bytes()

    import safetensors.torch

    def explode(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt  # a kill mid-write

    monkeypatch.setattr(safetensors.torch, "save_file", explode)
    with pytest.raises(KeyboardInterrupt):
        make_set(soft=True).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors"]


def test_export_writes_viewable_pngs(tmp_path):
    from PIL import Image

    from ddcore.builtins.images import export_imagefolder, write_grids

    a = make_set(n_per_class=3)
    paths = write_grids(a, tmp_path / "show")
    assert paths[0].name == "overview.png" and len(paths) == 4
    img = Image.open(paths[0])
    assert img.size[0] > 8 * 3 and img.size[1] > 8 * 3
    n = export_imagefolder(a, tmp_path / "folder")
    assert n == 9
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["000-a", "001-b", "002-c"]
    # pixel values survive the export: denormalised, rounded to 8 bits
    first = sorted((tmp_path / "folder" / "000-a").iterdir())[0]
    arr = torch.tensor(np.asarray(Image.open(first)), dtype=torch.float32) / 255
    expected = (a.images[0, 0] * 0.25 + 0.5).clamp(0, 1)
    assert (arr - expected).abs().max() < 1 / 255 + 1e-6


def test_grid_labels_sit_in_margins_and_leave_the_tiles_untouched(tmp_path):
    from PIL import Image

    from ddcore.builtins.images import save_grid, to_pixels

    pixels = to_pixels(make_set(n_per_class=3))
    plain = np.asarray(Image.open(save_grid(pixels, tmp_path / "plain.png", 3)))
    labelled = np.asarray(Image.open(save_grid(pixels, tmp_path / "labelled.png", 3, header={0: "kept", 2: "rejected"},
                                               row_labels=["a", "b", "c"])))
    top, left = labelled.shape[0] - plain.shape[0], labelled.shape[1] - plain.shape[1]
    assert top > 0 and left > 0
    assert (labelled[top:, left:] == plain).all()
    assert (labelled[:top] < 128).any() and (labelled[top:, :left] < 128).any()  # the text is drawn
