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


@pytest.mark.parametrize("shape,sides", [((1, 8, 8), [12, 6, 6, 3]), ((1, 28, 28), [32, 16, 16, 8, 8, 4])])
def test_convnet_pad3_is_the_official_codes_network_for_one_channel_images(shape, sides):
    """The first convolution padded by 3 (MTT/DATM/EDF's ConvNet on MNIST): 8 → 12 → 6 → 3, 28 → 32 → 16 → 8 → 4."""
    net = build_model("convnet-pad3", shape[0], 10, shape[1:])
    x, seen = torch.randn(2, *shape), []
    for layer in net.features:
        x = layer(x)
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.AvgPool2d)):
            seen.append(x.shape[-1])
    assert seen == sides and net.features[0].padding == (3, 3) and net.features[3 + 1].padding == (1, 1)
    assert net.classifier.in_features == 128 * sides[-1] ** 2
    plain = build_model("convnet", shape[0], 10, shape[1:])
    assert plain.features[0].padding == (1, 1) and plain.classifier.in_features < net.classifier.in_features


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


def test_crop_ratio_sets_the_largest_shift_and_align_corners_reaches_the_sampling_grid():
    """The official code's DSA (crop-pad ratio, ``align_corners=True``) as parameters."""
    import torch.nn.functional as F

    x = torch.zeros(400, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0  # a 2×2 square whose position shows the shift
    g = torch.Generator().manual_seed(0)
    for ratio, most in ((0.125, 1), (0.25, 2)):
        out = dsa(x, g, "crop", params=DSAParams(crop_ratio=ratio))
        rows = out.sum(dim=(1, 3)).argmax(dim=1) - 3  # the square's top row moved by this much
        assert rows.abs().max() == most and set(rows.tolist()) == set(range(-most, most + 1))
    img = torch.rand(1, 1, 8, 12, generator=torch.Generator().manual_seed(1))
    theta = torch.zeros(1, 2, 3)
    for align in (False, True):
        g = torch.Generator().manual_seed(2)
        sx, sy = (torch.rand(1, generator=g) * (1.2 - 1 / 1.2) + 1 / 1.2 for _ in range(2))  # the scale draws, x then y
        theta[0, 0, 0], theta[0, 1, 1] = sx.item(), sy.item()
        reference = F.grid_sample(img, F.affine_grid(theta, [1, 1, 8, 12], align_corners=align), align_corners=align)
        ours = dsa(img, torch.Generator().manual_seed(2), "scale", mode="all", params=DSAParams(align_corners=align))
        assert torch.allclose(ours, reference, atol=1e-6)
    # used in both the grid and the sampling, align_corners scales about the centre either way: the same on square
    # images, different on others
    square = img[..., :8]
    for shape, same in ((square, True), (img, False)):
        both = [dsa(shape, torch.Generator().manual_seed(2), "rotate", params=DSAParams(align_corners=a)) for a in (False, True)]
        assert torch.allclose(*both, atol=1e-5) == same


def test_momentum_reset_at_the_decay_equals_a_new_sgd_optimiser_there():
    """``reset_momentum_at_decay``: the official evaluation recreates SGD at the decay; a hand loop doing that is the reference."""
    from ddcore import TrainSettings, train_classifier

    x, y = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 10
    settings = TrainSettings(epochs=4, lr=0.05, batch_size=16, dsa_strategy="none", reset_momentum_at_decay=True)

    def fresh():
        torch.manual_seed(3)
        return build_model("convnet-w8", 1, 10, (8, 8))

    ours = train_classifier(fresh(), x, y, settings, torch.Generator().manual_seed(4), torch.device("cpu"))
    kept = train_classifier(fresh(), x, y, TrainSettings(**{**settings.__dict__, "reset_momentum_at_decay": False}),
                            torch.Generator().manual_seed(4), torch.device("cpu"))
    net, g, lr = fresh().train(), torch.Generator().manual_seed(4), 0.05
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    for epoch in range(4):
        if epoch == 4 // 2 + 1:
            opt = torch.optim.SGD(net.parameters(), lr=lr * 0.1, momentum=0.9, weight_decay=5e-4)  # as the official code
        order = torch.randperm(64, generator=g)
        for start in range(0, 64, 16):
            idx = order[start:start + 16]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    for a, b, c in zip(ours.parameters(), net.parameters(), kept.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert any(not torch.allclose(a, c, atol=1e-6) for a, c in zip(ours.parameters(), kept.parameters()))
