"""The built-in selection baselines."""

from __future__ import annotations

import torch

from ddcore import testing
from ddcore.builtins.selectors import herding_order, kcenter_order


def test_herding_tracks_the_mean_greedily():
    feats = torch.tensor([[10.0], [0.1], [-0.1], [-10.0], [3.0]])
    # mean 0.6: 0.1 is closest; then -0.1 keeps the running mean (0.0) nearest; then 3.0 (mean 1.0)
    assert herding_order(feats, 3) == [1, 2, 4]


def test_kcenter_picks_the_point_farthest_from_those_chosen():
    feats = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.0, 4.0], [0.5, 0.5]])
    # mean (1.3, 0.9): (0.5, 0.5) is nearest; then (5, 0), 4.53 from it; then (0, 4), 3.54 from (0.5, 0.5)
    assert kcenter_order(feats, 3) == [4, 2, 3]
    pts = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    order = kcenter_order(pts, 6)
    for t in range(1, 6):  # each pick maximises the distance to the chosen set, checked by brute force
        d = torch.cdist(pts, pts[order[:t]]).min(1).values
        assert d[order[t]] == d.max()


def test_random_herding_and_kcenter_keep_real_images_of_the_pool(tmp_path):
    from ddcore import DistilledSet, open_dataset

    data, kept = open_dataset("digits"), {}
    for name, opts in (("random", {}), ("herding", {"herding": {"embedding": "random", "model": "convnet-w16"}}),
                       ("kcenter", {"kcenter": {"embedding": "random", "model": "convnet-w16"}})):
        dset = testing.run_tiny([name], tmp_path / name, ipc=2, pool_factor=3, options=opts)
        assert [s["stage"] for s in dset.facts["stages"]] == ["real", name]
        index = torch.as_tensor(dset.columns["real_index"])
        assert len(set(index.tolist())) == 20  # distinct real images
        assert torch.equal(dset.images, data.train_images[index])  # each kept image is the real image it names
        assert torch.equal(dset.classes, data.train_labels[index])  # under its true label
        pool = DistilledSet.load(tmp_path / name / "stages" / "00-real.safetensors")
        assert set(index.tolist()) <= set(torch.as_tensor(pool.columns["real_index"]).tolist())  # chosen from the pool
        kept[name] = set(index.tolist())
    assert len({frozenset(k) for k in kept.values()}) == 3  # the three rules choose differently


def test_trained_herding_embedding_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DD_CACHE_DIR", str(tmp_path / "cache"))  # empty: other tests may train the same network
    opts = {"herding": {"embedding": "trained", "model": "convnet-w16", "epochs": 1}}
    testing.run_tiny(["herding"], tmp_path / "a", ipc=1, options=opts)
    testing.run_tiny(["herding"], tmp_path / "b", ipc=1, options=opts)
    assert "training a convnet-w16 classifier" in (tmp_path / "a" / "log.txt").read_text()
    assert "classifier from the cache" in (tmp_path / "b" / "log.txt").read_text()
