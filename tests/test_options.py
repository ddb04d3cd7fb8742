"""Option parsing from the command line and run files."""

from __future__ import annotations

import pytest

from ddcore.errors import ConfigError
from ddcore.options import parse_assignments, parse_value
from ddcore.run import build_spec


def test_values_parse_as_toml_or_stay_text():
    assert parse_value("0.25") == 0.25 and parse_value("3") == 3 and parse_value("false") is False
    assert parse_value("[1, 2]") == [1, 2] and parse_value("~/models/x") == "~/models/x"
    assert parse_assignments(["edf.cpd_ratio=0.25", "a.b.c=x"]) == {"edf": {"cpd_ratio": 0.25}, "a.b": {"c": "x"}}


def test_malformed_assignment_is_one_sentence():
    with pytest.raises(ConfigError, match="STAGE.KEY=VALUE"):
        parse_assignments(["cpd_ratio=0.25"])


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_run_file_sets_run_and_stage_options_and_flags_win(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    if suffix == ".toml":
        path.write_text('dataset = "mnist5k"\nipc = 3\nplugins = ["real", "random"]\n[real]\nseed = 4\n')
    else:
        path.write_text("dataset: mnist5k\nipc: 3\nplugins: real,random\nreal:\n  seed: 4\n")
    spec = build_spec(config_path=str(path), ipc=5, options=("real.seed=9",))
    assert spec.dataset == "mnist5k" and spec.ipc == 5 and spec.plugins == ["real", "random"]
    assert spec.options == {"real": {"seed": 9}}


def test_bad_run_files_are_one_sentence(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("ipc = = 3")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        build_spec(config_path=str(bad))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("ipcs = 3")
    with pytest.raises(ConfigError, match="unknown key 'ipcs'"):
        build_spec(config_path=str(unknown))
    with pytest.raises(ConfigError, match="does not exist"):
        build_spec(config_path=str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="ipc"):
        build_spec(ipc=0)


def test_resume_refuses_changed_settings(tmp_path):
    with pytest.raises(ConfigError, match="drop ipc"):
        build_spec(resume_dir=str(tmp_path), ipc=3)
