"""The extension points a third party adds to: model families, evaluators, dataset transforms and
report sections, each through the toy package's hooks (tests/plugin_pkg/dd_toy)."""

from __future__ import annotations

import json

import dd_toy
import pytest
import torch

from ddcore import ConfigError, testing
from ddcore.planning import RunSpec, plan_run
from ddcore.run import run

PM = testing.make_plugin_manager(dd_toy)


def plan(**kw):
    return plan_run(RunSpec(plugins=["real"], **kw), PM)


def test_model_options_are_checked_against_the_registered_families():
    assert plan(options={"eval": {"model": "toymlp-h8"}}).options["eval"].model == "toymlp-h8"
    with pytest.raises(ConfigError, match="toymlp-x.*use toymlp or toymlp-hN"):
        plan(options={"eval": {"model": "toymlp-x"}})
    with pytest.raises(ConfigError, match="'resnet' is unknown; known: .*toymlp"):
        plan(options={"eval": {"model": "resnet"}})


def test_a_plugins_model_trains_in_the_evaluation(tmp_path):
    spec = RunSpec(plugins=["real"], ipc=2, out=str(tmp_path / "m"), device="cpu", baselines=[],
                   options={"eval": {"model": "toymlp-h8", "num_nets": 1, "epochs": 2, "dsa_strategy": "none"}})
    result = run(spec, PM, quiet=True)["eval"]
    assert result["protocol"]["model"] == "toymlp-h8" and 0 <= result["distilled"]["mean"] <= 100


def test_an_evaluator_from_a_plugin_owns_the_eval_options(tmp_path):
    with pytest.raises(ConfigError, match="eval has no option 'num_nets'"):
        plan(evaluator="toy_nearest_mean", options={"eval": {"num_nets": 2}})
    with pytest.raises(ConfigError, match="unknown evaluator 'nope'"):
        plan(evaluator="nope")
    spec = RunSpec(plugins=["real"], ipc=3, out=str(tmp_path / "e"), device="cpu", evaluator="toy_nearest_mean")
    run(spec, PM, quiet=True)
    saved = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert saved["evaluator"] == "toy_nearest_mean" and saved["metric"] == "l2" and saved["distilled"]["mean"] > 30
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["evaluator"] == "toy_nearest_mean"


def test_a_dataset_transform_from_a_plugin_applies_to_any_dataset(tmp_path):
    plain = testing.run_tiny(["real"], tmp_path / "a", ipc=1, manager=PM)
    negated = testing.run_tiny(["real"], tmp_path / "b", ipc=1, manager=PM, dataset="digits?toy_negate=1")
    assert torch.equal(negated.images, -plain.images) and negated.facts["dataset"] == "digits?toy_negate=1"
    with pytest.raises(ConfigError, match="use toy_negate=1"):
        testing.run_tiny(["real"], tmp_path / "c", ipc=1, manager=PM, dataset="digits?toy_negate=2")


def test_a_stage_plugin_writes_its_own_report_section(tmp_path):
    from ddcore.builtins.report import build_report

    testing.run_tiny(["toy", "random"], tmp_path / "r", ipc=1, manager=PM, options={"toy": {"iterations": 2}})
    page = build_report(tmp_path / "r", PM).read_text()
    assert "toy made 20 images." in page  # the toy plugin's report_stage answer for its stage
    assert "kept 10 of 20 images" in page  # the built-in section of the random selector
