"""``edf.unroll``: ``checkpoint`` is exactly ``full``'s gradient in constant memory; ``tesla`` is TESLA's
approximation, checked against its closed form on a float64 linear model."""

from __future__ import annotations

import pytest
import torch
from dd_edf.flat import FlatModel, flatten_parameters
from dd_edf.unroll import choose_mode, step_graph_bytes, unroll
from torch import nn

from ddcore import build_model


def _convnet_problem(soft: bool):
    torch.manual_seed(0)
    net = build_model("convnet-w8", 1, 10, (8, 8))
    for p in net.parameters():
        p.requires_grad_(False)
    fmodel = FlatModel(net)
    x = torch.randn(20, 1, 8, 8).requires_grad_(True)
    y = (torch.randn(20, 10) if soft else torch.arange(10).repeat(2)).requires_grad_(soft)
    alpha = torch.tensor(0.05, requires_grad=True)
    start = flatten_parameters(net)
    target = start + 0.01 * torch.randn_like(start)
    return fmodel, x, y, alpha, start, target


def _gradients(problem, mode: str, soft: bool):
    fmodel, x, y, alpha, start, target = problem
    g = torch.Generator().manual_seed(1)
    theta = unroll(fmodel, start.clone().requires_grad_(True), x, y, alpha, steps=6, batch=8, generator=g, soft=soft, mode=mode)
    loss = ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()
    leaves = [x, alpha] + ([y] if soft else [])
    return theta.detach(), torch.autograd.grad(loss, leaves), g.get_state()


@pytest.mark.parametrize("soft", [True, False])
def test_checkpoint_gives_the_full_gradient(soft):
    problem = _convnet_problem(soft)
    theta_full, grads_full, state_full = _gradients(problem, "full", soft)
    theta_ckpt, grads_ckpt, state_ckpt = _gradients(problem, "checkpoint", soft)
    assert torch.equal(state_full, state_ckpt)  # the same batches and augmentations were drawn
    assert torch.allclose(theta_full, theta_ckpt, rtol=1e-5, atol=1e-6)  # the same θ̂_N (kernels may round differently)
    for name, a, b in zip(["images", "step size", "labels"], grads_full, grads_ckpt):
        assert (a - b).norm() <= 1e-5 * a.norm(), name  # float32 sums in another order: relative error ~1e-7
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * float(a.abs().max())), name


def test_tesla_differs_from_the_full_gradient_but_not_by_much():
    problem = _convnet_problem(True)
    _, full, _ = _gradients(problem, "full", True)
    _, tesla, _ = _gradients(problem, "tesla", True)
    rel = (tesla[0] - full[0]).norm() / full[0].norm()
    assert 0 < rel < 0.5  # it drops the Hessian cross-terms: close, not equal


def test_tesla_equals_its_closed_form_on_a_linear_model():
    """Softmax regression, θ = W (K×D): g_n = (P_n − Y)ᵀX / B and TESLA's
    dL/dX_i = −α Σ_n [Vᵀ(P_ni − y_i) + W_nᵀ(diag P_ni − P_ni P_niᵀ) V X_i] / B, dL/dα = −Σ_n g_n·V, V = ∂L/∂θ̂_N."""
    torch.manual_seed(0)
    n, d, k, steps, a = 12, 6, 3, 4, 0.3
    net = nn.Sequential(nn.Flatten(), nn.Linear(d, k, bias=False)).double()
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.randn(n, 1, 2, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.arange(k).repeat(n // k)
    alpha = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    start = flatten_parameters(net)
    target = torch.randn_like(start)
    theta = unroll(FlatModel(net), start.clone(), x, labels, alpha, steps=steps, batch=n, generator=torch.Generator(),
                   soft=False, mode="tesla", augment=lambda images, g: images)
    grad_x, grad_a = torch.autograd.grad(((theta - target) ** 2).sum(), [x, alpha])

    X, Y = x.detach().flatten(1), torch.nn.functional.one_hot(labels, k).double()
    W, Ws, gs = start.view(k, d).clone(), [], []
    for _ in range(steps):
        P = torch.softmax(X @ W.T, 1)
        Ws.append(W)
        gs.append((P - Y).T @ X / n)
        W = W - a * gs[-1]
    V = 2 * (W.reshape(-1) - target).view(k, d)
    expected_x = torch.zeros_like(X)
    for Wn in Ws:
        P = torch.softmax(X @ Wn.T, 1)
        J = torch.diag_embed(P) - P.unsqueeze(2) * P.unsqueeze(1)
        expected_x += -a * ((P - Y) @ V + torch.einsum("kd,ikj,ij->id", Wn, J, X @ V.T)) / n
    expected_a = -sum((g * V).sum() for g in gs)
    assert torch.allclose(grad_x.flatten(1), expected_x, rtol=1e-9, atol=1e-12)
    assert torch.allclose(grad_a, expected_a, rtol=1e-9)


def test_auto_keeps_full_while_it_fits_and_checkpoints_beyond():
    fmodel, x, y, alpha, start, _ = _convnet_problem(True)
    per_step = step_graph_bytes(fmodel, start, x, y, alpha, batch=20, soft=True)
    assert per_step > x.numel() * 4  # the graph holds at least the batch's activations
    assert choose_mode(per_step, 80, memory_bytes=per_step * 1000)[0] == "full"
    mode, why = choose_mode(per_step, 80, memory_bytes=per_step * 100)
    assert mode == "checkpoint" and "80 steps" in why


def test_a_bf16_unroll_runs_the_student_in_bf16_and_points_the_same_way():
    """``edf.unroll_precision=bf16``: forward passes under autocast; the image gradient stays close in direction."""
    from helpers import frozen_student

    fmodel, start = frozen_student()
    x0, y = torch.randn(20, 1, 8, 8), torch.randn(20, 10)
    grads = {}
    for precision in ("fp32", "bf16"):
        x = x0.clone().requires_grad_(True)
        theta = unroll(fmodel, start.clone().requires_grad_(True), x, y, torch.tensor(0.01), steps=4, batch=10,
                       generator=torch.Generator().manual_seed(0), soft=True, mode="checkpoint", precision=precision)
        assert theta.dtype == torch.float32
        theta.square().sum().backward()
        grads[precision] = x.grad.flatten()
    assert not torch.equal(grads["fp32"], grads["bf16"])
    assert torch.nn.functional.cosine_similarity(grads["fp32"], grads["bf16"], dim=0) > 0.95
