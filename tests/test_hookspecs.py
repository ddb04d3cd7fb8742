"""Every hook is typed, documented, and exercised by a test."""

from __future__ import annotations

import inspect

from ddcore import hookspecs

SPECS = [name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "ddcore_spec")]


def test_there_are_hooks_for_every_family():
    assert set(SPECS) == {
        "register_synthesizers", "register_scorers", "register_selectors", "register_options",
        "register_datasets", "register_commands", "weight_matching_terms", "weight_pixel_gradients",
        "register_modifiers", "register_dataset_transforms", "register_models", "register_evaluators", "report_stage",
    }


def test_each_hook_is_typed_and_documented():
    for name in SPECS:
        fn = getattr(hookspecs, name)
        sig = inspect.signature(fn)
        assert fn.__doc__ and "Called" in fn.__doc__, f"{name} must say when it is called"
        assert sig.return_annotation is not inspect.Signature.empty, name
        for p in sig.parameters.values():
            assert p.annotation is not inspect.Parameter.empty, f"{name}({p.name}) is untyped"


def test_ddcore_calls_every_hook_and_the_toy_plugin_answers_each(tmp_path):
    """Not a grep for names: ddcore itself calls each hook (registering, a run with a modifier, the
    report, the command line) and the test plugin, which implements them all, answers every call."""
    import click
    import dd_toy
    import torch

    from ddcore import DistilledSet
    from ddcore import testing
    from ddcore.builtins.report import build_report
    from ddcore.plugins import PluginManager

    answered: set[str] = set()

    def after(outcome, hook_name, hook_impls, kwargs):
        if any(impl.plugin_name.split(":")[0] == "dd_toy" for impl in hook_impls) and outcome.exception is None:
            answered.add(hook_name)

    manager = PluginManager(load_entry_points=False)
    manager.pm.add_hookcall_monitoring(lambda hook_name, hook_impls, kwargs: None, after)
    assert manager.add(dd_toy, name="dd_toy")
    d = testing.run_tiny(["toy", "toy_weights", "toy_brightness", "toy_brightest"], tmp_path / "run", manager=manager,
                         dataset="toy_blobs:1", options={"toy": {"iterations": 2}})
    brightness = d.columns["toy_brightness"]
    assert torch.allclose(brightness, d.images.flatten(1).mean(1))  # the scorer's column travelled with the kept images
    pool = DistilledSet.load(tmp_path / "run" / "stages" / "01-toy_brightness.safetensors")
    for c in range(4):  # the selector kept each class's brightest image
        assert float(brightness[d.classes == c].max()) == float(pool.columns["toy_brightness"][pool.classes == c].max())
    build_report(tmp_path / "run", pm=manager)
    manager.subset_caller("register_commands", ["dd_toy"])(cli=click.Group())
    assert answered == set(SPECS), f"never called with the toy's answer: {sorted(set(SPECS) - answered)}"
