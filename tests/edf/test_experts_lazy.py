"""Expert trajectories stay on disk: one safetensors file per expert, read an epoch at a time."""

from __future__ import annotations

from pathlib import Path

import torch
from dd_edf.experts import ExpertSettings, Trajectory, load_or_train_experts
from safetensors.torch import load_file

from ddcore import Cache, open_dataset

SETTINGS = ExpertSettings(model="convnet-w8", epochs=2, lr=0.05, batch_size=256)


def test_trajectories_are_read_an_epoch_at_a_time_and_damaged_files_are_retrained(tmp_path, caplog):
    data, cache, logged = open_dataset("digits"), Cache(tmp_path / "cache"), []
    trajs = load_or_train_experts(cache, data, SETTINGS, 2, seed=0, device=torch.device("cpu"), log=logged.append, quiet=True)
    assert all(isinstance(t, Trajectory) for t in trajs)
    assert not [v for t in trajs for v in vars(t).values() if isinstance(v, torch.Tensor)]  # nothing held in memory
    whole = load_file(trajs[1].path)["trajectory"]
    assert len(trajs[1]) == 3 and torch.equal(trajs[1][2], whole[2]) and torch.equal(trajs[1][-1], whole[-1])

    again = load_or_train_experts(cache, data, SETTINGS, 2, seed=0, device=torch.device("cpu"), log=logged.append, quiet=True)
    assert "0 trained now" in logged[-1] and torch.equal(again[0][1], trajs[0][1])

    first = trajs[0][1].clone()
    with open(trajs[0].path, "r+b") as f:  # a crash mid-write on a filesystem without atomic rename
        f.truncate(64)
    healed = load_or_train_experts(cache, data, SETTINGS, 2, seed=0, device=torch.device("cpu"), log=logged.append, quiet=True)
    assert "is damaged" in caplog.text and "1 trained now" in logged[-1]
    assert len(list(Path(trajs[0].path).parent.glob("*.damaged-*"))) == 1  # set aside, not deleted
    assert torch.equal(healed[0][1], first)  # the same seeds train the same expert again

    with open(trajs[1].path, "r+b") as f:  # a flipped byte: the file still opens, its checksum does not match
        f.seek(-3, 2)
        byte = f.read(1)
        f.seek(-3, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    load_or_train_experts(cache, data, SETTINGS, 2, seed=0, device=torch.device("cpu"), log=logged.append, quiet=True)
    assert "checksum does not match" in caplog.text and "1 trained now" in logged[-1]


def test_experts_trained_together_equal_experts_trained_alone(tmp_path):
    """``experts_batched``: one vmap over the missing experts, each still its own seeded run (SAM too)."""
    data = open_dataset("digits")
    for settings in (SETTINGS, ExpertSettings(model="convnet-w8", epochs=2, lr=0.05, batch_size=256, sam_rho=0.05)):
        alone = load_or_train_experts(Cache(tmp_path / "alone"), data, settings, 3, seed=0, device=torch.device("cpu"),
                                      quiet=True, batched=False)
        together = load_or_train_experts(Cache(tmp_path / "together"), data, settings, 3, seed=0, device=torch.device("cpu"),
                                         quiet=True, batched=True)
        for a, b in zip(alone, together):
            assert len(a) == len(b) == 3
            assert torch.equal(a[0], b[0])  # the same initialisation
            assert torch.allclose(a[-1], b[-1], rtol=1e-4, atol=1e-5)
            assert not torch.equal(a[-1], a[0])  # and it trained
        assert not torch.allclose(alone[0][-1], alone[1][-1])  # experts differ from each other


def test_experts_trained_channels_last_equal_the_default_layout():
    """``expert_channels_last`` changes the memory layout only; unset, it follows bf16 on a GPU."""
    from types import SimpleNamespace

    from dd_edf.experts import train_expert
    from dd_edf.matching import expert_channels_last

    data = open_dataset("digits")
    plain = train_expert(data, SETTINGS, 7, torch.device("cpu"), "expert", True)
    last = train_expert(data, SETTINGS, 7, torch.device("cpu"), "expert", True, channels_last=True)
    assert torch.equal(plain[0], last[0]) and not torch.equal(plain[-1], plain[0])
    assert torch.allclose(plain[-1], last[-1], rtol=1e-4, atol=1e-5)
    opts = lambda **o: SimpleNamespace(**{"expert_channels_last": None, "expert_precision": "fp32", **o})  # noqa: E731
    assert expert_channels_last(opts(expert_precision="bf16"), torch.device("cuda"))
    assert not expert_channels_last(opts(expert_precision="bf16"), torch.device("cpu"))
    assert not expert_channels_last(opts(), torch.device("cuda")) and expert_channels_last(opts(expert_channels_last=True), torch.device("cpu"))


def test_a_run_trains_the_experts_no_other_process_has_claimed_and_waits_for_the_rest(tmp_path):
    """Two runs that need the same experts share them: here "another process" holds expert 0's claim, so
    this run trains expert 1, waits, and then reads expert 0 from the other's file instead of training it."""
    import threading
    import time

    from dd_edf.experts import experts_spec

    from ddcore import claimed

    data, cache, logged, result = open_dataset("digits"), Cache(tmp_path), [], {}
    spec = {**experts_spec(data, SETTINGS, 0), "index": 0}
    with claimed(cache, "edf-expert", spec):
        worker = threading.Thread(target=lambda: result.update(
            trajs=load_or_train_experts(cache, data, SETTINGS, 2, seed=0, device=torch.device("cpu"), log=logged.append, quiet=True)))
        worker.start()
        deadline = time.time() + 120
        while not any("waiting" in m for m in logged) and time.time() < deadline:
            time.sleep(0.05)
        assert any(m.startswith("expert 2/2 trained") for m in logged) and not any(m.startswith("expert 1/2") for m in logged)
        other = load_file(cache.file_for("edf-expert", {**spec, "index": 1}))["trajectory"] + 1  # what no training here makes
        cache.save("edf-expert", spec, {"trajectory": other})
    worker.join(60)
    assert torch.equal(result["trajs"][0][1], other[1])  # read, not trained again
    assert "(1 trained now, 1 from the cache" in logged[-1]
