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


def test_torch_grad_cam_matches_pytorch_grad_cam():
    pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam", reason="pytorch-grad-cam is the reference (dd-edf[test])")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    net = build_model("convnet-w32", 3, 10, (16, 16)).eval()
    x = torch.randn(8, 3, 16, 16)
    targets = torch.arange(8) % 10
    layer = default_cam_layer(net, (16, 16))
    ours = grad_cam(net, x, targets, layer).numpy()
    with pytorch_grad_cam.GradCAM(model=net, target_layers=[net.features[layer]]) as ref_cam:
        ref = ref_cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    corr = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
    assert corr > 0.99 and np.abs(ours - ref).max() < 0.05


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
