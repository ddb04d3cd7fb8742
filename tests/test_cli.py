"""The ``dd`` command line as a user runs it (subprocesses, real entry points)."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import fake_installed_plugin

FAST_EVAL = ("-o", "eval.num_nets=2", "-o", "eval.epochs=15")


def test_help_is_instant_and_imports_no_torch():
    code = (
        "import sys, time; t = time.perf_counter(); from ddcore.cli import cli\n"
        "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'diffusers', 'open_clip', 'timm', 'sklearn') if m in sys.modules]\n"
        "print(heavy, time.perf_counter() - t, file=sys.stderr)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Commands:" in proc.stdout and "run" in proc.stdout


def test_plugins_lists_builtins_and_installed_packages(dd):
    proc = dd("plugins", check=True)
    out = json.loads(proc.stdout)
    listing = {p["name"]: p for p in out["plugins"]}
    assert listing["ddcore.real"]["builtin"] and listing["ddcore.real"]["distribution"] == "ddcore"
    assert list(listing["ddcore.real"]["components"]["synthesizer"]) == ["real"]
    with_options = json.loads(dd("plugins", "--options", check=True).stdout)
    assert set(with_options) == set(out) | {"options"} and with_options["plugins"] == out["plugins"]  # one shape
    for name in ("edf", "detector_refine", "clip_select", "toy"):
        assert name in listing and "error" not in listing[name], name
    assert listing["toy"]["version"] == "0.3.0" and listing["toy"]["distribution"] == "dd-toy"


def test_plugin_subcommand_is_available(dd):
    assert dd("toy", "hello", check=True).stdout.strip() == "hello from dd-toy"


def test_datasets_says_how_to_point_at_disk(dd):
    out = dd("datasets", check=True).stdout
    for name in ("digits", "mnist5k", "imagefolder", "cifar10", "cifar100"):
        assert name in out
    assert "PATH" in out


def test_unknown_plugin_is_one_line_naming_the_known(dd):
    proc = dd("run", "--plugins", "nosuch", "--out", "unused")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0] and "real" in lines[0] and "herding" in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_option_names_the_valid_ones_and_writes_nothing(dd, tmp_path):
    proc = dd("run", "--plugins", "real", "-o", "real.nosuch=1", "--out", str(tmp_path / "r"))
    assert proc.returncode != 0 and "valid options: seed" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_corrupt_artifact_given_to_eval_is_one_sentence(dd, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"{\x00\x00\x00garbage")
    proc = dd("eval", str(bad))
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "corrupt or truncated" in proc.stderr and "Traceback" not in proc.stderr


def test_broken_plugin_does_not_break_help_plugins_or_a_run(dd, tmp_path):
    site = fake_installed_plugin(tmp_path / "site", "dd-kaput", "kaput", "dd_kaput_plugin", "raise ImportError('kaput on import')\n")
    env = {"PYTHONPATH": str(site)}
    assert dd("--help", env=env).returncode == 0
    listing = {p["name"]: p for p in json.loads(dd("plugins", env=env, check=True).stdout)["plugins"]}
    assert "kaput on import" in listing["kaput"]["error"]
    proc = dd("run", "--plugins", "real", "--ipc", "1", "--no-eval", "--out", str(tmp_path / "r"), "-q", env=env, check=True)
    assert (tmp_path / "r" / "distilled.safetensors").exists()
    assert "kaput" in proc.stderr  # reported, not fatal
    strict = dd("plugins", env={**env, "DD_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "kaput" in strict.stderr and "Traceback" not in strict.stderr


def test_dry_run_prints_resolved_stages_and_options(dd):
    proc = dd("run", "--plugins", "herding", "--ipc", "2", "--dry-run", "-o", "herding.embedding=random", check=True)
    plan = json.loads(proc.stdout)
    assert [s["stage"] for s in plan["stages"]] == ["real", "herding"]
    assert plan["stages"][0]["per_class"] == 10 and plan["options"]["herding"]["embedding"] == "random"
    assert plan["options"]["eval"]["num_nets"] == 5


def test_run_eval_show_on_digits(dd, tmp_path):
    out = tmp_path / "r1"
    dd("run", "--dataset", "digits", "--ipc", "2", "--plugins", "real", "--out", str(out), "--no-eval", "-q", check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["per_class"] == {str(i): 2 for i in range(10)} and manifest["stages"][0]["stage"] == "real"
    proc = dd("eval", str(out), *FAST_EVAL, "-q", check=True)
    assert "±" in proc.stdout and "random" in proc.stdout
    written = sorted(out.glob("eval-*.json"))
    assert len(written) == 1 and f"wrote {written[0]}" in proc.stdout and not (out / "eval.json").exists()
    result = json.loads(written[0].read_text())
    accs = result["distilled"]["accuracies"]
    assert len(accs) == 2 and result["protocol"]["epochs"] == 15
    assert result["random"]["accuracies"] and len(result["random"]["accuracies"]) == 2
    # another protocol gets a file of its own; the same protocol again rewrites its file with the same numbers
    dd("eval", str(out), *FAST_EVAL, "-o", "eval.epochs=16", "-q", check=True)
    dd("eval", str(out), *FAST_EVAL, "-q", check=True)
    assert len(list(out.glob("eval-*.json"))) == 2 and json.loads(written[0].read_text())["distilled"] == result["distilled"]
    proc = dd("show", str(out), "--imagefolder", str(tmp_path / "png"), check=True)
    assert (out / "show" / "overview.png").exists()
    assert len(list((tmp_path / "png").rglob("*.png"))) == 20


def test_dd_eval_across_architectures_prints_one_table_and_keeps_each_result(dd, tmp_path):
    out = tmp_path / "x"
    dd("run", "--dataset", "digits", "--ipc", "1", "--plugins", "real", "--out", str(out), "--no-eval", "-q", check=True)
    proc = dd("eval", str(out), "-o", "eval.num_nets=1", "-o", "eval.epochs=2", "--models", "convnet-w8,convnet-w8-pad3", "-q", check=True)
    results = [json.loads(p.read_text()) for p in sorted(out.glob("eval-*.json"))]
    assert sorted(r["protocol"]["model"] for r in results) == ["convnet-w8", "convnet-w8-pad3"]
    table = proc.stdout[proc.stdout.index("| eval.model |"):].splitlines()
    for r in results:
        row = next(line for line in table if line.startswith(f"| {r['protocol']['model']} |"))
        assert f"{r['distilled']['mean']:.2f} ± {r['distilled']['std']:.2f}" in row


def test_dd_eval_prints_before_it_writes_and_logs_into_the_run(dd, tmp_path):
    """The numbers reach stdout even when eval.json cannot be written, and the run's log.txt records the
    evaluation's start, each network and its result."""
    out = tmp_path / "r"
    dd("run", "--dataset", "digits", "--ipc", "2", "--plugins", "real", "--out", str(out), "--no-eval", "-q", check=True)
    proc = dd("eval", str(out), *FAST_EVAL, check=True)
    log = (out / "log.txt").read_text()
    assert "[eval] eval net: training 2 network(s) of 2" in log and "[eval] eval net 2/2:" in log and "[eval] distilled" in log
    written = next(out.glob("eval-*.json"))
    written.unlink()
    written.mkdir()  # the write will fail
    proc = dd("eval", str(out), *FAST_EVAL)
    assert proc.returncode != 0 and "distilled" in proc.stdout and "±" in proc.stdout


def test_existing_run_folder_is_not_overwritten_silently(dd, tmp_path):
    out = tmp_path / "r"
    dd("run", "--ipc", "1", "--no-eval", "--out", str(out), "-q", check=True)
    proc = dd("run", "--ipc", "1", "--no-eval", "--out", str(out), "-q")
    assert proc.returncode != 0 and "--overwrite" in proc.stderr
    dd("run", "--ipc", "1", "--no-eval", "--out", str(out), "-q", "--overwrite", check=True)


def test_a_run_logs_to_stderr_and_log_txt_and_keeps_stdout_for_data(dd, tmp_path):
    out = tmp_path / "logged"
    args = ("run", "--plugins", "real", "--ipc", "1", "-o", "eval.num_nets=1", "-o", "eval.epochs=1", "--baseline", "none")
    proc = dd(*args, "--out", str(out), check=True)
    assert proc.stdout == "" and "[eval] distilled" in proc.stderr and "[real] stage 0" in proc.stderr
    log = (out / "log.txt").read_text()
    assert "[eval] evaluating" in log and "[eval] distilled" in log  # evaluation is in the run's log too
    assert "random" not in json.loads((out / "eval.json").read_text())  # --baseline none: no baseline trained
    quiet = dd(*args, "-q", "--out", str(tmp_path / "quiet"), check=True)
    assert quiet.stdout == "" and quiet.stderr == ""
    assert "[eval] distilled" in (tmp_path / "quiet" / "log.txt").read_text()
