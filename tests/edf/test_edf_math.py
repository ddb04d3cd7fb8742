"""CPD, DAE and Grad-CAM on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddcore import MatchingTerms
from ddcore.context import RunContext
from ddcore.cache import Cache
from ddcore.models import build_model
from ddcore.testing import make_plugin_manager
from dd_edf.cam import default_cam_layer, grad_cam
from dd_edf.cpd import cpd_weights
from dd_edf.dae import dae_weights
from dd_edf.options import EdfOptions


def test_cpd_drops_the_lowest_errors_from_numerator_and_denominator():
    e = torch.tensor([5.0, 1.0, 3.0, 2.0])
    d = torch.tensor([1.0, 10.0, 2.0, 20.0])
    w = cpd_weights(e, 0.5)
    assert w.tolist() == [1, 0, 1, 0]
    assert ((w * e).sum() / (w * d).sum()).item() == pytest.approx((5 + 3) / (1 + 2))
    assert cpd_weights(e, 0.0) is None and cpd_weights(e, 0.2) is None  # ⌊0.2·4⌋ = 0


def ctx_with(tmp_path, **edf):
    import dd_edf

    pm = make_plugin_manager((dd_edf, "edf"))
    return RunContext(device=torch.device("cpu"), seed=0, out_dir=tmp_path, cache=Cache(tmp_path),
                      options={"edf": EdfOptions(**edf)}, active_plugins=["edf"], plugin_manager=pm)


def test_rho_zero_is_exactly_the_datm_loss_and_rho_changes_it(tmp_path):
    g = torch.Generator().manual_seed(0)
    student, start, target = (torch.randn(1000, generator=g) for _ in range(3))
    terms = MatchingTerms(numerator=(student - target) ** 2, denominator=(start - target) ** 2, iteration=0)
    datm = ((student - target) ** 2).sum() / ((start - target) ** 2).sum()
    assert ctx_with(tmp_path, cpd_ratio=0.0, dae=False).matching_loss(terms).item() == datm.item()
    w = ctx_with(tmp_path, cpd_ratio=0.25, dae=False).weight_matching_terms(terms)
    assert int((w == 0).sum()) == 250 and ((w == 0) <= (terms.numerator <= terms.numerator.kthvalue(250).values)).all()


def test_dae_weight_map_on_a_hand_made_activation():
    cam = torch.tensor([[[0.0, 0.2], [0.6, 1.0]]])  # mean 0.45
    assert torch.allclose(dae_weights(cam, beta=1.0).squeeze(), torch.tensor([[1.0, 1.0], [1.6, 2.0]]))
    fixed = dae_weights(cam, beta=2.0, threshold=0.1).squeeze()
    assert torch.allclose(fixed, torch.tensor([[1.0, 2.2], [2.6, 3.0]]))
    assert dae_weights(cam, 1.0).shape == (1, 1, 2, 2)  # broadcasts over channels


def test_cam_layer_on_8px_digits_is_larger_than_1x1():
    net = build_model("convnet", 1, 10, (8, 8))
    layer = default_cam_layer(net, (8, 8))
    x = torch.zeros(1, 1, 8, 8)
    for module in net.features[: layer + 1]:
        x = module(x)
    assert x.shape[-1] > 1 and layer > 0


@pytest.mark.parametrize("ours_name, reference_name", [("grad_cam", "GradCAM"), ("grad_cam_plus_plus", "GradCAMPlusPlus")])
def test_torch_cams_match_pytorch_grad_cam(ours_name, reference_name):
    pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam", reason="pytorch-grad-cam is the reference (dd-edf[test])")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from dd_edf import cam

    torch.manual_seed(0)
    net = build_model("convnet-w32", 3, 10, (16, 16)).eval()
    x = torch.randn(8, 3, 16, 16)
    targets = torch.arange(8) % 10
    layer = default_cam_layer(net, (16, 16))
    ours = getattr(cam, ours_name)(net, x, targets, layer).numpy()
    with getattr(pytorch_grad_cam, reference_name)(model=net, target_layers=[net.features[layer]]) as ref_cam:
        ref = ref_cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    corr = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
    assert corr > 0.99 and np.abs(ours - ref).max() < 0.05
    if ours_name != "grad_cam":
        assert not np.allclose(ours, grad_cam(net, x, targets, layer).numpy(), atol=0.05)  # not Grad-CAM under another name


def test_presets_fill_unset_options_and_user_values_win():
    from dd_edf.options import read_preset

    table = read_preset("cifar10-ipc10")["edf"]
    o = EdfOptions(preset="cifar10-ipc10")
    assert o.lr_lr == table["lr_lr"] != EdfOptions().lr_lr and o.expert_model == table["expert_model"] == "convnet-d5"
    mine = EdfOptions(preset="cifar10-ipc10", lr_lr=7e-7)
    assert mine.lr_lr == 7e-7 and mine.expert_model == "convnet-d5"
    # the defaults are the digits-ipc10 preset
    digits = read_preset("digits-ipc10")["edf"]
    assert all(getattr(EdfOptions(), k) == v for k, v in digits.items())
    with pytest.raises(ValueError, match="no EDF preset 'digits-ipc11'"):
        EdfOptions(preset="digits-ipc11")
    with pytest.raises(ValueError, match="expert_train_epochs"):
        EdfOptions(expert_train_epochs=3, max_start_epoch=5)


def test_every_shipped_preset_is_valid_and_paper_presets_use_the_official_components():
    from dd_edf.options import preset_names, read_preset

    for name in preset_names():  # a typo in a TOML key or value fails here, not in a user's run
        table = read_preset(name)
        assert table["ipc"] >= 1 and table["description"] and table["source"], name
        o = EdfOptions(preset=name)
        assert all(getattr(o, key) == value for key, value in table["edf"].items()), name
    ours = [n for n in preset_names() if n.startswith(("digits-ipc", "mnist5k-ipc"))]  # tuned here; every other one is a paper config
    assert ours and len(ours) < len(preset_names())
    for name in [n for n in preset_names() if n not in ours]:
        o = EdfOptions(preset=name)
        assert (o.expert_sampling, o.cam_method, o.dsa_crop_ratio, o.dsa_align_corners, o.expert_dsa_align_corners) == (
            "without_replacement", "smoothgradcam++", 0.25, True, True), name
        assert o.expert_sam_rho > 0 and o.expert_gsam_alpha > 0 and o.expert_sam_adaptive, name
        if o.cam_model.startswith("convnet"):
            assert o.cam_layer == "last_pool", name
        if "-paper-" in name:  # the 1-channel ones: the official code's pad-3 ConvNet
            assert o.expert_model == o.cam_model == "convnet-pad3", name


def test_experts_without_replacement_use_each_expert_once_per_pass_as_the_official_code():
    from types import SimpleNamespace

    from dd_edf.matching import expert_index

    without = SimpleNamespace(expert_sampling="without_replacement")
    passes = [[expert_index(without, 0, d, 5, None) for d in range(p * 5, p * 5 + 5)] for p in range(4)]
    assert all(sorted(one) == [0, 1, 2, 3, 4] for one in passes)  # every expert once in each pass
    assert len({tuple(one) for one in passes}) > 1  # reshuffled between passes
    assert [expert_index(without, 0, 7, 5, None)] * 2 == [expert_index(without, 0, 7, 5, None) for _ in range(2)]  # a function of the draw
    g = torch.Generator().manual_seed(0)
    drawn = [expert_index(SimpleNamespace(expert_sampling="with_replacement"), 0, d, 5, g) for d in range(20)]
    assert any(sorted(drawn[i:i + 5]) != [0, 1, 2, 3, 4] for i in range(0, 20, 5))  # with replacement repeats within a pass


def test_smoothgrad_cam_plus_plus_averages_the_gradient_powers_over_noisy_copies():
    """SmoothGrad-CAM++ against a per-image reference written from the paper's formulas; no noise is Grad-CAM++."""
    import torch.nn.functional as F

    from dd_edf.cam import activations_and_logits, grad_cam_plus_plus, smoothgrad_cam_plus_plus

    torch.manual_seed(1)
    net = build_model("convnet-w16", 1, 10, (8, 8)).eval()
    x, targets = torch.randn(3, 1, 8, 8), torch.tensor([2, 5, 7])
    layer = default_cam_layer(net, (8, 8))
    assert torch.allclose(smoothgrad_cam_plus_plus(net, x, targets, layer, noise=0.0), grad_cam_plus_plus(net, x, targets, layer))
    ours = smoothgrad_cam_plus_plus(net, x, targets, layer, samples=3, noise=0.2, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    noises = [0.2 * torch.randn(x.shape, generator=g) for _ in range(3)]  # the draws, in the order they are made
    for j in range(3):
        def act_and_grad(img):
            img = img.clone().requires_grad_(True)
            act, logits = activations_and_logits(net, img, layer)
            return act[0].detach(), torch.autograd.grad(logits[0, targets[j]], act)[0][0]
        act, _ = act_and_grad(x[j:j + 1])
        grads = [act_and_grad(x[j:j + 1] + n[j:j + 1])[1] for n in noises]
        d1, d2, d3 = (sum(gr ** p for gr in grads) / 3 for p in (1, 2, 3))
        weights = []
        for k in range(act.shape[0]):  # channel by channel, as the paper writes it
            a = d2[k] / (2 * d2[k] + act[k].sum() * d3[k] + 1e-6)
            weights.append((a * d1[k].clamp(min=0)).sum())
        cam = torch.relu(sum(w * act[k] for k, w in enumerate(weights)))[None, None]
        cam = (cam - cam.min()) / (cam.max() - cam.min() + 1e-7)
        cam = F.interpolate(cam, size=(8, 8), mode="bilinear", align_corners=False)
        cam = ((cam - cam.min()) / (cam.max() - cam.min() + 1e-7))[0, 0]
        assert torch.allclose(ours[j], cam, atol=1e-4)


def test_cam_layer_last_pool_is_edfs_choice_and_a_1x1_map_is_refused():
    from dd_edf.cam import last_pool_layer

    from ddcore import ConfigError

    net = build_model("convnet-w8", 1, 10, (8, 8))  # D2 on 8×8: pools to 4×4, then 2×2
    layer = last_pool_layer(net, (8, 8))
    assert isinstance(net.features[layer], torch.nn.AvgPool2d) and layer == len(net.features) - 1
    with pytest.raises(ConfigError, match="1×1"):
        last_pool_layer(build_model("convnet-d3-w8", 1, 10, (8, 8)), (8, 8))
    with pytest.raises(ValueError, match="cam_layer"):
        EdfOptions(cam_layer=-1)
    assert EdfOptions(cam_layer="last_pool").cam_layer == "last_pool"
