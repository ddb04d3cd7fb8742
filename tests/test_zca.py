"""ZCA whitening: the maths, the dataset suffix, and artifacts that remember it."""

from __future__ import annotations

import json

import pytest
import torch

from ddcore.builtins.data.embedded import load_digits
from ddcore.builtins.data.zca import fit_zca, whiten
from ddcore.cache import Cache
from ddcore.realdata import parse_dataset
from ddcore.errors import ConfigError


def test_whitening_decorrelates_and_inverts():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 1, 3, 3, generator=g) @ torch.randn(3, 3, generator=g)  # correlated
    zca = fit_zca(x, eps=1e-6)
    w = zca.apply(x).flatten(1)
    cov = (w - w.mean(0)).T @ (w - w.mean(0)) / len(w)
    assert torch.allclose(cov, torch.eye(9), atol=1e-2)
    assert torch.allclose(zca.undo(zca.apply(x)), x, atol=1e-4)


def test_dataset_suffix_is_parsed_and_checked(tmp_path):
    transforms = {"zca": None}
    assert parse_dataset("digits?zca=0.1", transforms) == ("digits", None, [("zca", "0.1")])
    assert parse_dataset("imagefolder:/d?size=32&zca=0.1&classes=a,b", transforms) == ("imagefolder", "/d?size=32&classes=a,b", [("zca", "0.1")])
    assert parse_dataset("cifar10:/c", transforms) == ("cifar10", "/c", [])
    with pytest.raises(ConfigError, match="must be a number"):
        whiten(load_digits(), "lots", Cache(tmp_path))


def test_the_whitening_is_fitted_once_and_cached(tmp_path, monkeypatch):
    from ddcore.builtins.data import zca as zca_module

    fits = []
    real_fit = zca_module.fit_zca
    monkeypatch.setattr(zca_module, "fit_zca", lambda *a: fits.append(1) or real_fit(*a))
    first = whiten(load_digits(), "0.1", Cache(tmp_path))
    second = whiten(load_digits(), "0.1", Cache(tmp_path))
    assert len(fits) == 1 and torch.equal(first.train_images, second.train_images)


def test_whitened_data_round_trips_to_pixels(tmp_path):
    d = load_digits()
    w = whiten(d, "0.1", Cache(tmp_path))
    assert not torch.allclose(w.train_images, d.train_images)
    assert torch.allclose(w.denormalize(w.train_images[:5]), d.denormalize(d.train_images[:5]), atol=1e-4)
    assert w.describe()["zca_eps"] == 0.1 and w.fingerprint() != d.fingerprint()


def test_a_run_on_whitened_data_evaluates_and_shows_in_pixel_space(dd, tmp_path):
    out = tmp_path / "z"
    dd("run", "--dataset", "digits?zca=0.1", "--ipc", "2", "--no-eval", "-q", "--out", str(out), check=True)
    assert json.loads((out / "manifest.json").read_text())["dataset"] == "digits?zca=0.1"
    proc = dd("eval", str(out), "-o", "eval.num_nets=1", "-o", "eval.epochs=2", "-q", check=True)
    assert json.loads(next(out.glob("eval-*.json")).read_text())["dataset"]["zca_eps"] == 0.1 and "±" in proc.stdout
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
def test_normalize_is_the_inverse_of_denormalize(zca_eps, tmp_path):
    """Generators hand back [0, 1] pixels; ``normalize`` puts them into the run's (whitened) space."""
    data = load_digits() if zca_eps is None else whiten(load_digits(), str(zca_eps), Cache(tmp_path))
    pixels = data.denormalize(data.train_images[:20])
    assert torch.allclose(data.denormalize(data.normalize(pixels)), pixels, atol=1e-4)
    if zca_eps is None:
        assert torch.allclose(data.normalize(pixels), data.train_images[:20], atol=1e-5)


def test_streamed_whitening_equals_whitening_the_float_split(tmp_path):
    from ddcore.builtins.data.zca import fit_zca
    from ddcore.realdata import RealData

    data = load_digits()
    streamed = whiten(data, "0.1", Cache(tmp_path / "a"))
    floats = RealData(data.name, data.train_images.clone(), data.train_labels, data.test_images.clone(), data.test_labels,
                      data.class_names, data.mean, data.std)
    eager = whiten(floats, "0.1", Cache(tmp_path / "b"))
    assert streamed.streamed() and not eager.streamed()
    assert torch.allclose(streamed.images_of("train", torch.arange(50)), eager.train_images[:50], atol=1e-4)
    assert torch.allclose(fit_zca(data.train_images, 0.1).matrix, eager.zca.matrix, atol=1e-5)
