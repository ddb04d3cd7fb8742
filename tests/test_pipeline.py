"""Stage planning: user order, pool sizes, implicit pool, and stacks rejected before compute."""

from __future__ import annotations

import dd_toy
import dd_toy.weights
import pytest

from ddcore import hookimpl, testing
from ddcore.components import Scorer, Selector
from ddcore.errors import ConfigError
from ddcore.planning import RunSpec, plan_run


class Refiner(Selector):
    name = "fixer"
    mode = "refine"

    def select(self, ctx, pool, data, ipc):
        return pool


class Counter(Scorer):
    name = "counter"
    columns = ("count",)

    def score(self, ctx, pool, data):
        import torch

        return {"count": torch.arange(len(pool), dtype=torch.float32)}


class Extras:
    @hookimpl
    def register_selectors(self, register):
        register(Refiner())

    @hookimpl
    def register_scorers(self, register):
        register(Counter())


@pytest.fixture
def pm():
    return testing.make_plugin_manager(dd_toy, (Extras(), "extras"))


def plan(pm, plugins, **kw):
    return plan_run(RunSpec(plugins=plugins, **kw), pm)


def test_stages_follow_the_users_order_and_pool_sizes_flow(pm):
    p = plan(pm, ["toy", "fixer", "counter", "random"], ipc=3, pool_factor=4)
    assert [(s.name, s.kind) for s in p.stages] == [("toy", "synthesizer"), ("fixer", "selector"), ("counter", "scorer"), ("random", "selector")]
    assert [s.per_class for s in p.stages] == [12, 12, 12, 3]


def test_two_selection_stages_shrink_geometrically(pm):
    p = plan(pm, ["toy", "herding", "random"], ipc=2, pool_factor=4)
    assert [s.per_class for s in p.stages] == [8, 4, 2]


def test_without_selection_the_synthesizer_makes_ipc(pm):
    assert plan(pm, ["toy"], ipc=3).stages[0].per_class == 3


def test_selection_alone_gets_the_builtin_real_pool(pm):
    p = plan(pm, ["random"], ipc=2, pool_factor=5)
    assert [(s.name, s.implicit, s.per_class) for s in p.stages] == [("real", True, 10), ("random", False, 2)]


def test_unknown_plugin_names_the_known_ones(pm):
    with pytest.raises(ConfigError) as info:
        plan(pm, ["rael"])
    msg = str(info.value)
    assert "'rael'" in msg and "did you mean 'real'" in msg and "herding" in msg and "toy" in msg


def test_synthesizer_after_a_pool_is_rejected_with_the_fix(pm):
    with pytest.raises(ConfigError, match=r"put 'toy' first \(--plugins toy,random\)"):
        plan(pm, ["random", "toy"])


def test_modifier_needs_an_optimising_synthesizer(pm):
    with pytest.raises(ConfigError, match="does not optimise"):
        plan(pm, ["real", "toy_weights"])
    p = plan(pm, ["toy", "toy_weights"])
    # the modifier comes from the toy package itself (register_modifiers): one entry point, two names
    assert p.modifiers == ["toy_weights"] and p.active_plugins == ["dd_toy", "dd_toy:toy_weights"]


def test_options_are_validated_before_compute(pm):
    with pytest.raises(ConfigError, match="real has no option 'nosuch'.*valid options: seed"):
        plan(pm, ["real"], options={"real": {"nosuch": 1}})
    with pytest.raises(ConfigError, match=r"toy.iterations='many' is invalid"):
        plan(pm, ["toy"], options={"toy": {"iterations": "many"}})
    with pytest.raises(ConfigError, match="not in this run"):
        plan(pm, ["real"], options={"toy": {"iterations": 3}})
    with pytest.raises(ConfigError, match="did you mean 'toy'"):
        plan(pm, ["toy"], options={"tyo": {"iterations": 3}})
    p = plan(pm, ["toy"], options={"toy": {"iterations": "7"}})
    assert p.options["toy"].iterations == 7 and p.options["eval"].num_nets >= 1


def test_empty_and_repeated_lists_are_rejected(pm):
    with pytest.raises(ConfigError, match="empty"):
        plan(pm, [])
    with pytest.raises(ConfigError, match="more than once"):
        plan(pm, ["real", "random", "random"])


def test_unknown_dataset_is_rejected_with_matches(pm):
    with pytest.raises(ConfigError, match="did you mean 'digits'"):
        plan(pm, ["real"], dataset="digit")
    with pytest.raises(ConfigError, match="needs a location"):
        plan(pm, ["real"], dataset="imagefolder")


def test_a_run_writes_every_stage_in_order(pm, tmp_path):
    dset = testing.run_tiny(["toy", "counter", "fixer", "random"], tmp_path / "r", ipc=2, pool_factor=3,
                            options={"toy": {"iterations": 3}}, manager=pm)
    testing.assert_artifact(dset, ipc=2, num_classes=10, stages=["toy", "counter", "fixer", "random"])
    assert dset.facts["options"]["toy"]["iterations"] == 3
    assert "count" in dset.columns and dset.columns["origin"] == ["toy"] * 20
    assert "dd_toy" in dset.facts["plugin_versions"]


def test_call_hooks_of_plugins_not_in_the_run_are_never_called(pm, tmp_path):
    dd_toy.weights.CALLS.update(terms=0, pixels=0)
    testing.run_tiny(["toy"], tmp_path / "a", options={"toy": {"iterations": 2}}, manager=pm)
    assert dd_toy.weights.CALLS == {"terms": 0, "pixels": 0}
    testing.run_tiny(["toy", "toy_weights"], tmp_path / "b", options={"toy": {"iterations": 2}}, manager=pm)
    assert dd_toy.weights.CALLS == {"terms": 2, "pixels": 2}


def test_a_modifier_changes_the_synthesis(pm, tmp_path):
    base = testing.run_tiny(["toy"], tmp_path / "a", options={"toy": {"iterations": 3}}, manager=pm)
    frozen = testing.run_tiny(["toy", "toy_weights"], tmp_path / "b", manager=pm,
                              options={"toy": {"iterations": 3}, "toy_weights": {"pixel_scale": 0.0}})
    assert not base.images.equal(frozen.images)
    # with zero pixel gradients only the per-step noise moves the images
    assert (frozen.images - base.images).abs().max() > 0.01


class Crashing(Selector):
    name = "crashing"

    def select(self, ctx, pool, data, ipc):
        return {}["no such key"]


def test_an_exception_inside_a_component_names_the_stage_and_plugin(tmp_path):
    from ddcore.errors import PluginError

    class P:
        @hookimpl
        def register_selectors(self, register):
            register(Crashing())

    pm = testing.make_plugin_manager((P(), "crashy"))
    with pytest.raises(PluginError) as info:
        testing.run_tiny(["crashing"], tmp_path / "c", manager=pm)
    assert "plugin 'crashy'" in str(info.value) and "stage crashing (select) failed: KeyError" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)  # the traceback is kept (dd run -v shows it)


def test_a_run_with_evaluation_loads_its_dataset_once_and_evaluates_the_set_in_memory(tmp_path, monkeypatch):
    from ddcore.builtins.data import embedded
    from ddcore.run import run

    loads = []
    real_load = embedded.load_digits
    monkeypatch.setattr(embedded, "load_digits", lambda *a: loads.append(1) or real_load(*a))
    pm = testing.make_plugin_manager()
    spec = RunSpec(plugins=["real"], ipc=1, out=str(tmp_path / "e"), device="cpu", dataset="digits?zca=0.1",
                   options={"eval": {"num_nets": 1, "epochs": 1}})
    summary = run(spec, pm, quiet=True)
    assert len(loads) == 1 and summary["eval"]["distilled"]["mean"] >= 0
