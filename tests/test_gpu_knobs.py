"""The GPU knobs (bf16 autocast, channels-last, torch.compile, device-side draws), exercised on the CPU:
each does what it says, and leaving them at their defaults keeps results as they were."""

from __future__ import annotations

import pytest
import torch

from ddcore import Draws, TrainSettings, autocast, build_model, dsa, open_dataset, train_classifier
from ddcore.builtins.augment import FAMILIES, DSAParams

CPU = torch.device("cpu")


def _trained(data, epochs=2, **knobs):
    torch.manual_seed(0)
    net = build_model("convnet-w8", 1, 10, (8, 8))
    settings = TrainSettings(epochs=epochs, batch_size=128, **knobs)
    return train_classifier(net, data.train_images, data.train_labels, settings, torch.Generator().manual_seed(1), CPU)


def test_draws_on_a_cpu_are_a_plain_generator_and_replay_repeats_them():
    x = torch.randn(6, 1, 8, 8)
    plain = [dsa(x, torch.Generator().manual_seed(5)) for _ in range(1)][0]
    assert torch.equal(dsa(x, Draws.seeded(5, "cpu")), plain)
    draws = Draws.seeded(9, "cpu")
    state = draws.get_state()
    first = dsa(x, draws)
    assert torch.equal(dsa(x, draws.replay(state)), first) and not torch.equal(dsa(x, draws), first)


def test_a_split_pair_picks_the_family_on_the_host_and_draws_parameters_on_the_device_generator():
    x = torch.randn(4, 1, 8, 8)
    host, device = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    out = dsa(x, Draws(host, device), "flip_color")
    pick = int(torch.randint(2, (1,), generator=torch.Generator().manual_seed(1)))
    expected = FAMILIES[["flip", "color"][pick]](x, DSAParams(), torch.Generator().manual_seed(2))
    assert torch.equal(out, expected)
    state = Draws(host, device).get_state()
    assert state[1] is not None  # both halves are saved, so a checkpointed unroll can replay them


def test_bf16_autocast_runs_forward_passes_in_bf16_and_still_learns():
    data = open_dataset("digits")
    seen = []
    with autocast("bf16", CPU):
        net = build_model("convnet-w8", 1, 10, (8, 8))
        net.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        net(data.test_images[:4])
    assert seen == [torch.bfloat16]
    with autocast("fp32", CPU):
        net(data.test_images[:4])
    assert seen[-1] == torch.float32
    fp32, bf16 = _trained(data, epochs=6), _trained(data, epochs=6, precision="bf16")
    from ddcore import accuracy

    a, b = accuracy(fp32, data.test_images, data.test_labels, CPU), accuracy(bf16, data.test_images, data.test_labels, CPU)
    assert b > 0.4 and abs(a - b) < 0.1  # chance is 0.1; fp32 reaches about 0.63 here
    assert not torch.equal(fp32.classifier.weight, bf16.classifier.weight)  # it really ran in another precision
    with pytest.raises(ValueError, match="fp32 or bf16"):
        autocast("fp16", CPU)


def test_channels_last_stores_the_network_channels_last_and_trains_the_same_network():
    data = open_dataset("digits")
    plain, last = _trained(data), _trained(data, channels_last=True)
    assert last.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    for p, q in zip(plain.parameters(), last.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)


def test_compiled_training_matches_eager_training():
    data = open_dataset("digits")
    eager, compiled = _trained(data), _trained(data, compile=True)
    for p, q in zip(eager.parameters(), compiled.parameters()):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-4)


def test_eval_options_refuse_compile_with_batched():
    from pydantic import ValidationError

    from ddcore.builtins.evaluation import EvalOptions, batched

    with pytest.raises(ValidationError, match="cannot train them together"):
        EvalOptions(compile=True, batched=True)
    assert not batched(EvalOptions(compile=True), torch.device("cuda"))  # unset: compile means one after another
    assert batched(EvalOptions(), torch.device("cuda")) and not batched(EvalOptions(), CPU)


def test_gsam_step_equals_the_papers_update_computed_by_hand():
    """Adaptive GSAM (EDF's expert buffers): ε = ρ w² g / ‖|w| g‖, g_p at w + ε, then
    g_p − α·(g − cos(g, g_p)·‖g‖·g_p/‖g_p‖) (GSAM's own code's form), one SGD step of it."""
    from ddcore.builtins.training import _step

    torch.manual_seed(0)
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1, 0])
    net = torch.nn.Linear(3, 2).double()
    w0 = [p.detach().clone() for p in net.parameters()]

    def loss_at(params):
        return torch.nn.functional.cross_entropy(x @ params[0].T + params[1], y)

    rho, alpha, lr = 0.05, 0.3, 0.1
    ws = [w.clone().requires_grad_(True) for w in w0]
    g = torch.autograd.grad(loss_at(ws), ws)
    norm = torch.sqrt(sum(((w.abs() * gi) ** 2).sum() for w, gi in zip(w0, g)))
    peak = [(w + rho * w ** 2 * gi / norm).requires_grad_(True) for w, gi in zip(w0, g)]
    gp = torch.autograd.grad(loss_at(peak), peak)
    flat_g, flat_gp = torch.cat([t.flatten() for t in g]), torch.cat([t.flatten() for t in gp])
    cos = flat_g @ flat_gp / (flat_g.norm() * flat_gp.norm())
    expected = [w - lr * (b - alpha * (a - cos * flat_g.norm() * b / flat_gp.norm())) for w, a, b in zip(w0, g, gp)]

    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.0)
    _step(net, net, lambda f: torch.nn.functional.cross_entropy(f(x), y), opt, rho, alpha=alpha, adaptive=True)
    for p, e in zip(net.parameters(), expected):
        assert torch.allclose(p, e, atol=1e-12)
    sam = torch.nn.Linear(3, 2).double()
    sam.load_state_dict(dict(zip(["weight", "bias"], w0)))
    _step(sam, sam, lambda f: torch.nn.functional.cross_entropy(f(x), y), torch.optim.SGD(sam.parameters(), lr=lr), rho)
    assert not torch.allclose(sam.weight, net.weight)  # α and |w| change the step
