"""What one rank does in the distributed tests (``ranks.py`` starts it): ``worker.py NAME OUT ARGS``.

Each function runs the same code a one-process run would, through ``distributed_context()``, and
writes this rank's result under OUT/rank<r> (safetensors for tensors, JSON for numbers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from ddcore import distributed_context, open_dataset


def experts(out: Path) -> None:
    from dd_edf.experts import ExpertSettings, load_or_train_experts

    from ddcore import Cache

    d = distributed_context("cpu")
    data = open_dataset("digits")
    settings = ExpertSettings(model="convnet-w8", epochs=2, lr=0.05, batch_size=256)
    trajs = load_or_train_experts(Cache(out / "cache"), data, settings, 3, seed=0, device=torch.device("cpu"), quiet=True, dist=d)
    save_file({f"expert{i}": t[-1] for i, t in enumerate(trajs)}, str(out / f"rank{d.rank}" / "experts.safetensors"))


def evaluate(out: Path) -> None:
    from ddcore import DistilledSet
    from ddcore.builtins.evaluation import EvalOptions, evaluate, random_subset

    d = distributed_context("cpu")
    data = open_dataset("digits")
    idx = random_subset(data, [2] * 10, torch.Generator().manual_seed(0))
    dset = DistilledSet.from_real(data, images=data.train_images[idx], classes=data.train_labels[idx])
    r = evaluate(dset, data, EvalOptions(num_nets=3, epochs=3, model="convnet-w8"), torch.device("cpu"), quiet=True, dist=d)
    (out / f"rank{d.rank}" / "eval.json").write_text(json.dumps(r))


def unroll(out: Path, mode: str) -> None:
    """θ̂_N and the gradients to images, soft labels and step size of one matching loss."""
    from dd_edf.unroll import unroll
    from helpers import frozen_student

    from ddcore import all_reduce_

    d = distributed_context("cpu")
    data = open_dataset("digits")
    fmodel, start = frozen_student()
    target = start + 0.01 * torch.randn(start.shape, generator=torch.Generator().manual_seed(1))
    x = data.train_images[:20].clone().requires_grad_(True)
    y = torch.randn(20, 10, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    alpha = torch.tensor(0.05, requires_grad=True)
    theta = unroll(fmodel, start.clone().requires_grad_(True), x, y, alpha, steps=5, batch=7,
                   generator=torch.Generator().manual_seed(3), soft=True, mode=mode, dist=d)
    loss = ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()
    loss.backward()
    all_reduce_([x.grad, y.grad], d)  # each rank holds its rows' share
    save_file({"theta": theta.detach(), "x": x.grad, "y": y.grad, "alpha": alpha.grad.reshape(1)},
              str(out / f"rank{d.rank}" / "unroll.safetensors"))


def fail(out: Path) -> None:
    """Rank 1 raises while rank 0 waits for it at a collective."""
    d = distributed_context("cpu")
    if d.rank == 1:
        raise RuntimeError("rank 1 fails on purpose")
    d.barrier()


if __name__ == "__main__":
    name, out, *args = sys.argv[1:]
    rank_dir = Path(out) / f"rank{distributed_context('cpu').rank}"
    rank_dir.mkdir(parents=True, exist_ok=True)
    globals()[name](Path(out), *args)
