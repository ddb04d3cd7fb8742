"""Every hook is typed, documented, and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

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


def test_each_hook_is_used_by_a_test():
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.rglob("*.py") if p.name != Path(__file__).name)
    for name in SPECS:
        assert name in tests, f"no test implements or calls {name}"
