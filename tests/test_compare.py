"""`dd compare`: one row per run with its evaluation (or a note that it has none), in the order given."""

from __future__ import annotations

import json


def test_rows_carry_each_runs_numbers_and_chain(tmp_path, dd):
    small = ["-o", "eval.num_nets=2", "-o", "eval.epochs=2", "--dataset", "digits", "--ipc", "1", "-q"]
    dd("run", "--plugins", "real", "--out", str(tmp_path / "a"), *small, check=True)
    dd("run", "--plugins", "random", "--out", str(tmp_path / "b"), *small, check=True)
    dd("run", "--plugins", "real", "--out", str(tmp_path / "c"), "--no-eval", "-q", check=True)
    table = dd("compare", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "c"), check=True).stdout.splitlines()
    assert len(table) == 2 + 3 and table[2].startswith(f"| {tmp_path / 'a'} |") and table[4].startswith(f"| {tmp_path / 'c'} |")
    for line, run in zip(table[2:4], "ab"):
        e = json.loads((tmp_path / run / "eval.json").read_text())
        assert f"{e['distilled']['mean']:.2f} ± {e['distilled']['std']:.2f}" in line and "2 × convnet, 2 epochs" in line
    assert "real (implicit) → random (select)" in table[3]
    assert "not evaluated" in table[4]


def test_a_folder_that_is_not_a_run_is_one_sentence(tmp_path, dd):
    proc = dd("compare", str(tmp_path))
    assert proc.returncode != 0 and "holds no manifest.json" in proc.stderr and "Traceback" not in proc.stderr
