"""The evaluation protocol: trains for real, is reproducible, records itself, uses learned lr and soft labels."""

from __future__ import annotations

import torch

from ddcore.artifact import DistilledSet
from ddcore.builtins.data.embedded import load_digits
from ddcore.builtins.evaluation import EvalOptions
from ddcore.builtins.evaluation import evaluate, format_result

CPU = torch.device("cpu")


def real_subset(data, per_class, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([data.class_indices(c)[torch.randperm(len(data.class_indices(c)), generator=g)[:per_class]] for c in range(10)])
    return DistilledSet.from_real(data, images=data.train_images[idx], classes=data.train_labels[idx], **kw)


def test_protocol_trains_real_networks_and_is_reproducible():
    data = load_digits()
    protocol = EvalOptions(num_nets=2, epochs=150, model="convnet-w32")
    good = real_subset(data, 10)
    noise = DistilledSet.from_real(data, images=torch.randn(100, 1, 8, 8), classes=torch.arange(10).repeat(10))
    a = evaluate(good, data, protocol, CPU, baselines=("random",), quiet=True)
    b = evaluate(good, data, protocol, CPU, baselines=(), quiet=True)
    n = evaluate(noise, data, protocol, CPU, baselines=(), quiet=True)
    assert a["distilled"]["accuracies"] == b["distilled"]["accuracies"]  # same seeds, same result
    assert a["distilled"]["mean"] > 70 and n["distilled"]["mean"] < 30
    assert len(a["random"]["accuracies"]) == 2 and a["random"]["per_class"] == [10] * 10
    assert "random" not in b
    assert a["protocol"]["epochs"] == 150 and "final-epoch" in a["protocol"]["metric"]
    text = format_result(a)
    assert "±" in text and "random real" in text and "150 epochs" in text


def test_learned_lr_and_soft_labels_are_used():
    data = load_digits()
    soft = real_subset(data, 2, soft_labels=torch.randn(20, 10), lr=0.0042)
    r = evaluate(soft, data, EvalOptions(num_nets=1, epochs=2), CPU, baselines=(), quiet=True)
    assert r["protocol"]["lr_used"] == 0.0042 and r["distilled"]["labels"] == "soft"
    r = evaluate(soft, data, EvalOptions(num_nets=1, epochs=2, use_learned_lr=False), CPU, baselines=(), quiet=True)
    assert r["protocol"]["lr_used"] == 0.01


def test_full_baseline_on_request():
    data = load_digits()
    r = evaluate(real_subset(data, 1), data, EvalOptions(num_nets=1, epochs=1), CPU, baselines=("full",), quiet=True)
    assert r["full"]["images"] == 1437 and "random" not in r


def test_batched_networks_end_where_their_sequential_runs_do():
    """K nets trained together (vmap) = each trained alone: own init, own subset, own batch order and DSA draws."""
    import torch

    from ddcore.builtins.batched import train_classifier_batched
    from ddcore.builtins.data.embedded import load_digits
    from ddcore.builtins.training import TrainSettings, accuracy, train_classifier
    from ddcore.models import build_model

    data = load_digits()
    settings = TrainSettings(epochs=4, lr=0.01, batch_size=16)
    subsets = [torch.randperm(len(data.train_images), generator=torch.Generator().manual_seed(k))[:40] for k in range(3)]

    def nets_and_generators():
        nets = []
        for k in range(3):
            torch.manual_seed(100 + k)
            nets.append(build_model("convnet-w16", 1, 10, (8, 8)))
        return nets, [torch.Generator().manual_seed(200 + k) for k in range(3)]

    alone, gens = nets_and_generators()
    for k, net in enumerate(alone):
        train_classifier(net, data.train_images[subsets[k]], data.train_labels[subsets[k]], settings, gens[k], torch.device("cpu"))
    together, gens = nets_and_generators()
    train_classifier_batched(together, [data.train_images[s] for s in subsets], [data.train_labels[s] for s in subsets],
                             settings, gens, torch.device("cpu"))
    for a, b in zip(alone, together):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-5), name
        assert accuracy(a, data.test_images, data.test_labels, "cpu") == accuracy(b, data.test_images, data.test_labels, "cpu")
