"""A full disk (ENOSPC) while writing anything: one sentence naming the file and how much it needed,
exit ≠ 0, the previous files intact and nothing half-written.

The command-line cases run on a small tmpfs mounted for the test (it needs the right to mount,
which root in a container usually has); the writer itself is also tested with a patched
``save_file`` that fills the disk halfway through, which needs no rights.
"""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest
import torch

from ddcore.artifact import DistilledSet


@pytest.fixture
def small_disk(tmp_path):
    """``make(size)``: a folder on a tmpfs of ``size`` (e.g. "256k"); ``grow(size)`` remounts it larger."""
    mounted = []

    def make(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); the patched-writer test covers the writer")
        mounted.append(folder)
        return folder

    def grow(folder: Path, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)

    make.grow = grow
    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> None:
    """Take every free byte of ``folder``'s filesystem."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp"))


def one_sentence(proc: subprocess.CompletedProcess, *parts: str) -> str:
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert last.startswith("dd: error: no space left on the device for ") and all(p in last for p in parts), last
    return last


TOY = ["run", "--plugins", "toy", "--dataset", "mnist5k", "--ipc", "10", "--no-eval", "-q", "-o", "toy.iterations=4"]


@pytest.mark.parametrize("size, checkpoint_every, full_at", [
    ("256k", 2, "checkpoints/00-toy.safetensors"),  # a checkpoint (0.3 MiB) does not fit
    ("256k", 100, "stages/00-toy.safetensors"),  # no checkpoints: the stage's pool is the first big file
    ("480k", 100, "distilled.safetensors"),  # the stage's pool fits, the artifact beside it does not
])
def test_a_run_on_a_full_disk_names_the_file_and_its_size_and_resumes_once_there_is_room(small_disk, dd, size, checkpoint_every, full_at):
    disk = small_disk(size)
    out = disk / "run"
    proc = dd(*TOY, "-o", f"toy.checkpoint_every={checkpoint_every}", "--out", str(out))
    one_sentence(proc, str(out / full_at), "it needs 0.3 MiB and ", "are free")
    assert not (out / full_at).exists() and not leftovers(disk)
    assert (out / "run.json").is_file() and "toy" in (out / "run.json").read_text()  # what was written before is intact
    small_disk.grow(disk, "4m")
    dd("run", "--resume", str(out), check=True)
    if full_at == "distilled.safetensors":  # the run read its stage back from the full disk: the set is the one it made
        dd(*TOY, "-o", f"toy.checkpoint_every={checkpoint_every}", "--out", str(disk / "whole"), check=True)
        assert DistilledSet.load(out).images.equal(DistilledSet.load(disk / "whole").images)
    assert len(DistilledSet.load(out)) == 100


def test_a_cache_on_a_full_disk_is_one_sentence_and_the_run_folder_stays_reusable(small_disk, dd, tmp_path):
    cache = small_disk("32k")
    out = tmp_path / "run"
    args = ["run", "--plugins", "edf", "--ipc", "1", "--no-eval", "-q", "-o", "edf.num_experts=1", "-o", "edf.expert_train_epochs=3",
            "-o", "edf.max_start_epoch=1", "-o", "edf.current_max_start_epoch=1", "-o", "edf.iterations=2", "-o", "edf.syn_steps=3",
            "-o", "edf.expert_model=convnet-w16", "-o", "edf.dae=false"]
    one_sentence(dd(*args, "--cache-dir", str(cache), "--out", str(out)), str(cache / "edf-expert"), "it needs ")
    assert not leftovers(cache)
    dd(*args, "--cache-dir", str(tmp_path / "roomy"), "--out", str(out), check=True)  # the same --out, no --overwrite


def test_eval_show_and_report_on_a_full_disk_keep_what_was_there(small_disk, dd):
    disk = small_disk("2m")
    run = disk / "run"
    dd("run", "--plugins", "toy", "--ipc", "2", "--no-eval", "-q", "-o", "toy.iterations=4", "--out", str(run), check=True)
    before = sorted(p.name for p in run.iterdir())
    fill(disk)
    ev = dd("eval", str(run), "-o", "eval.num_nets=1", "-o", "eval.epochs=2", "--baseline", "none")
    assert "distilled" in ev.stdout  # the numbers were shown before the write failed
    one_sentence(ev, str(run / "eval-"))  # eval-KEY.json, the file dd eval writes
    one_sentence(dd("show", str(run)))
    one_sentence(dd("report", str(run)))
    assert sorted(p.name for p in run.iterdir()) == before and not leftovers(disk)  # no eval-KEY.json, show/ or report/ left


def test_the_writer_keeps_the_previous_file_when_the_disk_fills_halfway(tmp_path, monkeypatch):
    """No mount needed: safetensors' writer is patched to write half the file and then fail the way
    it does on a full disk (its message says "os error 28")."""
    import safetensors.torch

    from ddcore.atomic import write_json, write_tensors
    from ddcore.errors import DDError

    path = tmp_path / "set.safetensors"
    write_tensors(path, {"x": torch.ones(1000)}, {"a": "1"})
    previous = path.read_bytes()

    def half_then_full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\1" * 2000)
        raise safetensors.SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: \"No space left on device\" }) (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", half_then_full)
    with pytest.raises(DDError, match=r"no space left on the device for .*set.safetensors: it needs 0.0 MiB"):
        write_tensors(path, {"x": torch.zeros(1000)}, {"a": "2"})
    assert path.read_bytes() == previous and [p.name for p in tmp_path.iterdir()] == ["set.safetensors"]

    def no_room(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_room)
    with pytest.raises(DDError, match=r"no space left on the device for .*eval.json"):
        write_json(tmp_path / "eval.json", {"a": 1})
    assert not (tmp_path / "eval.json").exists()
