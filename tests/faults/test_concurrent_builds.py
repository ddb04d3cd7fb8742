"""A cache entry is built by one process at a time: the others wait for it (and are told) or,
asked not to wait, go on; a killed builder's claim is free at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import torch

from ddcore import Cache, TrainSettings, claimed, open_dataset, real_data_classifier

HOLD = """
import sys, time
from ddcore import Cache, claimed
with claimed(Cache(sys.argv[1]), "kind", {"a": 1}):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_claim_held_by_another_process_refuses_or_waits_and_a_killed_holder_frees_it(tmp_path):
    cache = Cache(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with claimed(cache, "kind", {"a": 1}, wait=False) as mine:
            assert mine is False
        with claimed(cache, "kind", {"a": 2}, wait=False) as other_entry:
            assert other_entry is True
        heard, got = [], threading.Event()

        def waiter() -> None:
            with claimed(cache, "kind", {"a": 1}, log=heard.append) as held:
                got.set() if held else None

        thread = threading.Thread(target=waiter)
        thread.start()
        assert not got.wait(1.0)  # blocked while the holder lives
        os.kill(holder.pid, signal.SIGKILL)  # killed mid-build: the kernel drops its lock
        thread.join(30)
        assert got.is_set() and len(heard) == 1 and "another process is building the kind entry" in heard[0]
    finally:
        holder.kill()
        holder.wait()


def test_two_runs_that_need_the_same_classifier_at_once_train_it_once(tmp_path):
    data, cache, logs = open_dataset("digits"), Cache(tmp_path), [[], []]
    nets = [None, None]

    def need(k: int) -> None:
        nets[k] = real_data_classifier(cache, data, "convnet-w8", TrainSettings(epochs=2), 0, torch.device("cpu"),
                                       log=logs[k].append, quiet=True)

    threads = [threading.Thread(target=need, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    trained = [k for k in range(2) if any(m.startswith("training a convnet-w8") for m in logs[k])]
    assert len(trained) == 1, logs
    assert any("from the cache" in m for m in logs[1 - trained[0]])
    assert all(torch.equal(a, b) for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()))


def test_two_callers_that_need_the_same_entry_at_once_build_it_once(tmp_path):
    """Both ``get_or_create`` (tensors) and ``get_or_create_dir`` (a folder) claim the entry while building it."""
    cache = Cache(tmp_path)

    def slow(builds: list, started: threading.Event, make):
        def build(*folder):
            builds.append(1)
            started.set()
            threading.Event().wait(1.0)  # long enough for the other caller to arrive while this one builds
            return make(*folder)
        return build

    def write_folder(folder) -> None:
        (folder / "weights.bin").write_bytes(b"x" * 10)

    for get, make in ((cache.get_or_create, lambda: {"x": torch.arange(3.0)}), (cache.get_or_create_dir, write_folder)):
        builds, heard, started, got = [], [], threading.Event(), []
        build = slow(builds, started, make)
        first = threading.Thread(target=lambda: got.append(get("kind", {"a": 1}, build, log=heard.append)))
        first.start()
        started.wait(30)
        second = threading.Thread(target=lambda: got.append(get("kind", {"a": 1}, build, log=heard.append)))
        second.start()
        for t in (first, second):
            t.join(60)
        assert len(builds) == 1 and len(heard) == 1 and "waiting for it" in heard[0], get.__name__
        if get == cache.get_or_create:
            assert len(got) == 2 and all(torch.equal(g["x"], torch.arange(3.0)) for g in got)
        else:
            assert got == [cache.checked_dir("kind", {"a": 1})] * 2 and (got[0] / "weights.bin").read_bytes() == b"x" * 10
