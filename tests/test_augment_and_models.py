"""DSA augmentation and the evaluation architectures."""

from __future__ import annotations

import pytest
import torch

from ddcore.builtins.augment import FAMILIES, DSAParams, dsa
from ddcore.errors import ConfigError
from ddcore.models import build_model


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_changes_images_differentiably_and_repeats_with_the_generator(family):
    x = torch.randn(16, 3, 12, 12, requires_grad=True)
    a = dsa(x, torch.Generator().manual_seed(1), family)
    b = dsa(x, torch.Generator().manual_seed(1), family)
    c = dsa(x, torch.Generator().manual_seed(2), family)
    assert a.shape == x.shape and a.equal(b) and not a.equal(c)
    (g,) = torch.autograd.grad(a.sum(), x)
    assert g.abs().sum() > 0


def test_single_mode_applies_one_family_and_none_is_identity():
    x = torch.randn(4, 1, 8, 8)
    assert dsa(x, torch.Generator().manual_seed(0), "none").equal(x)
    for seed in range(4):
        out = dsa(x, torch.Generator().manual_seed(seed), "flip_color")
        g = torch.Generator().manual_seed(seed)
        pick = int(torch.randint(2, (1,), generator=g))
        expected = FAMILIES[["flip", "color"][pick]](x, DSAParams(), g)
        assert out.equal(expected)


def test_crop_translates_whole_pixels_with_zero_padding():
    x = torch.arange(64.0).view(1, 1, 8, 8) + 1
    out = dsa(x, torch.Generator().manual_seed(0), "crop")
    # every value either comes from the image or is padding
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


@pytest.mark.parametrize("name,shape", [("convnet", (1, 8, 8)), ("convnet-d5-w16", (1, 32, 32)), ("convnet-d5-w16-bn", (1, 8, 8)), ("convnet-d3-w32-bn", (3, 28, 28))])
def test_convnets_fit_any_image_size(name, shape):
    net = build_model(name, shape[0], 10, shape[1:])
    x = torch.randn(2, *shape)
    assert net(x).shape == (2, 10) and net.embed(x).shape == (2, net.feature_dim)


def test_timm_models_by_name_with_a_small_image_stem():
    net = build_model("timm:resnet18", 3, 5, (16, 16))
    assert isinstance(net.model.maxpool, torch.nn.Identity)
    x = torch.randn(2, 3, 16, 16)
    assert net(x).shape == (2, 5) and net.embed(x).shape == (2, 512)


def test_a_convnet_too_deep_for_its_images_is_refused():
    with pytest.raises(ConfigError, match="depth ≤ 3"):
        build_model("convnet-d4", 1, 10, (8, 8))


def test_bad_model_names_are_one_sentence():
    with pytest.raises(ConfigError, match="convnet-d4-w64"):
        build_model("convnet-x9", 1, 10, (8, 8))
    with pytest.raises(ConfigError, match="timm has no model"):
        build_model("timm:not_a_model_at_all", 1, 10, (8, 8))
