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
    a, b = (json.loads((tmp_path / run / "eval.json").read_text())["distilled"]["accuracies"] for run in "ab")
    d = [y - x for x, y in zip(a, b)]
    assert f"{sum(d) / 2:+.2f} [" in table[3]  # the same two seeds: b − a paired network by network
    dd("run", "--plugins", "real", "--out", str(tmp_path / "d"), *small, "-o", "eval.epochs=3", check=True)
    other = dd("compare", str(tmp_path / "a"), str(tmp_path / "d"), check=True).stdout.splitlines()
    assert "not paired (another protocol)" in other[3]


def test_paired_difference_is_the_mean_difference_with_a_student_t_interval():
    from ddcore.builtins.paired import paired_difference

    mean, low, high = paired_difference([90.0, 91.0, 92.0], [91.0, 93.0, 92.0])
    # d = (1, 2, 0): mean 1, sample std 1, t(0.975, 2 df) = 4.3027 → half-width 4.3027 / √3 = 2.4842
    assert mean == 1.0 and abs(low - (1 - 2.4842)) < 1e-3 and abs(high - (1 + 2.4842)) < 1e-3


def test_a_folder_that_is_not_a_run_is_one_sentence(tmp_path, dd):
    proc = dd("compare", str(tmp_path))
    assert proc.returncode != 0 and "holds no manifest.json" in proc.stderr and "Traceback" not in proc.stderr
