"""Two gloo processes against one: experts, evaluation, the batch-parallel unroll, a failing rank."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import load_file

from ranks import result_dir, run_ranks


def test_experts_split_over_two_ranks_equal_the_one_process_experts(tmp_path):
    run_ranks(1, tmp_path, "experts")
    run_ranks(2, tmp_path, "experts")
    one = load_file(str(result_dir(tmp_path, "experts", 1) / "experts.safetensors"))
    for rank in (0, 1):
        two = load_file(str(result_dir(tmp_path, "experts", 2, rank) / "experts.safetensors"))
        assert set(two) == {"expert0", "expert1", "expert2"}
        assert all(torch.equal(one[k], two[k]) for k in one)  # expert i trained on rank i mod 2, the same seeds


def test_evaluation_over_two_ranks_gives_the_one_process_accuracies(tmp_path):
    run_ranks(1, tmp_path, "evaluate")
    run_ranks(2, tmp_path, "evaluate")
    one = json.loads((result_dir(tmp_path, "evaluate", 1) / "eval.json").read_text())
    for rank in (0, 1):
        two = json.loads((result_dir(tmp_path, "evaluate", 2, rank) / "eval.json").read_text())
        for row in ("distilled", "random"):
            assert two[row]["accuracies"] == one[row]["accuracies"]
        assert two["protocol"]["processes"] == 2


@pytest.mark.parametrize("mode", ["full", "checkpoint"])
def test_a_minibatch_split_over_two_ranks_gives_the_one_process_gradients(tmp_path, mode):
    run_ranks(1, tmp_path, "unroll", mode)
    run_ranks(2, tmp_path, "unroll", mode)
    one = load_file(str(result_dir(tmp_path, "unroll", 1) / "unroll.safetensors"))
    for rank in (0, 1):
        two = load_file(str(result_dir(tmp_path, "unroll", 2, rank) / "unroll.safetensors"))
        for key in ("theta", "x", "y", "alpha"):
            assert torch.allclose(two[key], one[key], rtol=1e-5, atol=1e-8), (mode, key, (two[key] - one[key]).abs().max())


def test_a_failing_rank_ends_the_other_in_bounded_time(tmp_path):
    started = time.monotonic()
    procs = run_ranks(2, tmp_path, "fail", timeout=120, expect_ok=False)
    assert time.monotonic() - started < 90
    assert procs[1].returncode != 0 and "fails on purpose" in procs[1].stderr
    assert procs[0].returncode != 0  # it did not wait forever at the barrier


@pytest.mark.parametrize("message", [
    "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:438: Connection reset by peer.",
    "[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 60000ms for recv operation to complete",
    "Connection closed by peer [127.0.0.1]:29500",
])
def test_a_collective_that_lost_its_peer_becomes_the_one_sentence(monkeypatch, message):
    """Whichever way gloo words the torn connection (it depends on which rank closed it first), rank 0
    says why it stopped in one sentence rather than a traceback; other errors stay what they are."""
    from ddcore import distributed

    monkeypatch.setattr(distributed, "_current", distributed.Dist(0, 2, 0, "gloo"))
    assert str(distributed.peer_failed(RuntimeError(message))) == distributed.PEER_STOPPED
    for own in (RuntimeError("shape mismatch in layer 3"), ConnectionResetError(104, "Connection reset by peer"),
                BrokenPipeError(32, "Broken pipe"), TimeoutError("The read operation timed out")):  # this rank's own I/O
        assert distributed.peer_failed(own) is None
    monkeypatch.setattr(distributed, "_current", distributed.Dist())
    assert distributed.peer_failed(RuntimeError(message)) is None
