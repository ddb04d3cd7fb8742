"""ZCA whitening: the maths, the dataset suffix, and artifacts that remember it."""

from __future__ import annotations

import json

import pytest
import torch

from ddcore.data.embedded import load_digits
from ddcore.data.zca import fit_zca, split_zca
from ddcore.errors import ConfigError


def test_whitening_decorrelates_and_inverts():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 1, 3, 3, generator=g) @ torch.randn(3, 3, generator=g)  # correlated
    zca = fit_zca(x, eps=1e-6)
    w = zca.apply(x).flatten(1)
    cov = (w - w.mean(0)).T @ (w - w.mean(0)) / len(w)
    assert torch.allclose(cov, torch.eye(9), atol=1e-2)
    assert torch.allclose(zca.undo(zca.apply(x)), x, atol=1e-4)


def test_dataset_suffix_is_parsed_and_checked():
    assert split_zca("digits?zca=0.1") == ("digits", 0.1)
    assert split_zca("imagefolder:/d?size=32&zca=0.1&classes=a,b") == ("imagefolder:/d?size=32&classes=a,b", 0.1)
    assert split_zca("cifar10:/c") == ("cifar10:/c", None)
    with pytest.raises(ConfigError, match="must be a number"):
        split_zca("digits?zca=lots")


def test_whitened_data_round_trips_to_pixels():
    d = load_digits()
    w = d.whitened(0.1)
    assert not torch.allclose(w.train_images, d.train_images)
    assert torch.allclose(w.denormalize(w.train_images[:5]), d.denormalize(d.train_images[:5]), atol=1e-4)
    assert w.describe()["zca_eps"] == 0.1 and w.fingerprint() != d.fingerprint()


def test_a_run_on_whitened_data_evaluates_and_shows_in_pixel_space(dd, tmp_path):
    out = tmp_path / "z"
    dd("run", "--dataset", "digits?zca=0.1", "--ipc", "2", "--no-eval", "-q", "--out", str(out), check=True)
    assert json.loads((out / "manifest.json").read_text())["dataset"] == "digits?zca=0.1"
    proc = dd("eval", str(out), "-o", "eval.num_nets=1", "-o", "eval.epochs=2", "-q", check=True)
    assert json.loads((out / "eval.json").read_text())["dataset"]["zca_eps"] == 0.1 and "±" in proc.stdout
    dd("show", str(out), check=True)
    from PIL import Image
    import numpy as np

    from ddcore.artifact import DistilledSet

    shown = np.asarray(Image.open(sorted((out / "show").glob("class-000-*.png"))[0]))
    real = load_digits()
    first = DistilledSet.load(out).columns["real_index"][0]
    pixels = (real.denormalize(real.train_images[first : first + 1])[0, 0] * 255).round().numpy()
    assert abs(float(shown[2, 2]) - float(pixels[0, 0])) <= 2  # first tile starts after 2 px of padding


@pytest.mark.parametrize("zca_eps", [None, 0.1])
def test_normalize_is_the_inverse_of_denormalize(zca_eps):
    """Generators hand back [0, 1] pixels; ``normalize`` puts them into the run's (whitened) space."""
    data = load_digits() if zca_eps is None else load_digits().whitened(zca_eps)
    pixels = data.denormalize(data.train_images[:20])
    assert torch.allclose(data.denormalize(data.normalize(pixels)), pixels, atol=1e-4)
    if zca_eps is None:
        assert torch.allclose(data.normalize(pixels), data.train_images[:20], atol=1e-5)
