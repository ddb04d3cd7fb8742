"""Plugin loading: entry points, isolation of broken plugins, allow/block lists, the registry, and
hooks called through pluggy (wrappers, the user's order)."""

from __future__ import annotations


import pytest
from helpers import fake_installed_plugin

from ddcore import hookimpl
from ddcore.errors import ConfigError, PluginError
from ddcore.plugins import PluginManager

GOOD = '''
from ddcore import hookimpl, Selector

class KeepFirst(Selector):
    name = "keep_first"
    mode = "select"
    def select(self, ctx, pool, data, ipc):
        import torch
        return pool.subset(torch.cat([pool.indices_of_class(c)[:ipc] for c in range(pool.num_classes)]))

@hookimpl
def register_selectors(register):
    register(KeepFirst())
'''

BROKEN = "raise RuntimeError('this plugin is broken on purpose')\n"

MISSPELT = '''
from ddcore import hookimpl

@hookimpl
def register_selector(register):
    pass
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    fake_installed_plugin(site, "dd-good", "good", "dd_good_plugin", GOOD, version="2.5")
    fake_installed_plugin(site, "dd-broken", "broken", "dd_broken_plugin", BROKEN)
    monkeypatch.syspath_prepend(str(site))
    for var in ("DD_LOAD_PLUGINS", "DD_DISABLE_PLUGINS", "DD_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return site


def test_entry_point_plugin_loads_with_its_distribution_version(site):
    pm = PluginManager()
    rec = pm.records["good"]
    assert rec.error is None and rec.version == "2.5" and rec.distribution == "dd-good"
    assert "keep_first" in pm.registry.components["selector"]
    assert pm.registry.components["selector"]["keep_first"].plugin == "good"
    assert rec.components == {"selector": {"keep_first": ""}} and not rec.builtin


def test_broken_plugin_is_reported_and_the_rest_keep_working(site):
    pm = PluginManager()
    assert "this plugin is broken on purpose" in pm.records["broken"].error
    assert any("'broken'" in w for w in pm.warnings)
    assert pm.pm.get_plugin("broken") is None
    assert "keep_first" in pm.registry.components["selector"]
    listing = {p["name"]: p for p in pm.plugins_json()}
    assert "error" in listing["broken"] and "error" not in listing["good"]


def test_strict_mode_turns_a_broken_plugin_into_an_error(site, monkeypatch):
    monkeypatch.setenv("DD_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken"):
        PluginManager()


def test_allow_list_loads_only_named_plugins(site, monkeypatch):
    monkeypatch.setenv("DD_LOAD_PLUGINS", "dd-good")  # distribution names work as well as entry-point names
    pm = PluginManager()
    assert "good" in pm.records and "broken" not in pm.records
    monkeypatch.setenv("DD_LOAD_PLUGINS", "")
    pm = PluginManager()
    assert not any(not r.builtin for r in pm.records.values())


def test_block_list_skips_named_plugins_and_reports_a_misspelt_name(site, monkeypatch):
    monkeypatch.setenv("DD_DISABLE_PLUGINS", "broken,good,gooood")
    pm = PluginManager()
    assert "good" not in pm.records and "broken" not in pm.records
    assert "real" in pm.registry.components["synthesizer"]
    assert pm.warnings == ["DD_DISABLE_PLUGINS names 'gooood', which no installed plugin is called (did you mean 'good'?)"]


def test_misspelt_hook_is_rejected_with_a_suggestion(tmp_path, monkeypatch):
    site = tmp_path / "site2"
    fake_installed_plugin(site, "dd-typo", "typo", "dd_typo_plugin", MISSPELT)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("DD_LOAD_PLUGINS", "typo")
    pm = PluginManager()
    err = pm.records["typo"].error
    assert "register_selector" in err and "register_selectors" in err
    pm.pm.check_pending()  # the bad plugin was not kept, so pluggy's own check passes


class Copycat:
    """Registers a selector of its own, then a synthesizer name the core already has."""

    @hookimpl
    def register_selectors(self, register):
        from ddcore.builtins.selectors import RandomSelector

        class Mine(RandomSelector):
            name = "mine"

        register(Mine())

    @hookimpl
    def register_synthesizers(self, register):
        from ddcore.builtins.real import RealSynthesizer

        register(RealSynthesizer())

    @hookimpl
    def weight_pixel_gradients(self, ctx, grads):
        return 0.0


def test_a_plugin_taking_a_name_already_registered_is_refused_alone(monkeypatch):
    monkeypatch.delenv("DD_STRICT_PLUGINS", raising=False)
    pm = PluginManager(load_entry_points=False)
    pm.add(Copycat(), name="copycat")
    reg = pm.registry  # the registry builds: the rest keep working
    assert reg.synthesizer["real"].plugin == "ddcore.real"
    assert "mine" not in reg.selector  # nothing the refused plugin registered stays
    assert pm.pm.get_plugin("copycat") is None  # nor do its call hooks
    err = pm.records["copycat"].error
    assert "'real'" in err and "ddcore.real" in err
    assert "error" in {p["name"]: p for p in pm.plugins_json()}["copycat"]
    monkeypatch.setenv("DD_STRICT_PLUGINS", "1")
    pm = PluginManager(load_entry_points=False)
    pm.add(Copycat(), name="copycat")
    with pytest.raises(PluginError, match="copycat"):
        pm.registry


def test_a_plugin_whose_registration_raises_leaves_nothing_behind(monkeypatch):
    monkeypatch.delenv("DD_STRICT_PLUGINS", raising=False)

    class Half(Copycat):
        @hookimpl
        def register_synthesizers(self, register):
            raise RuntimeError("half-way")

    pm = PluginManager(load_entry_points=False)
    pm.add(Half(), name="half")
    assert "mine" not in pm.registry.selector and pm.pm.get_plugin("half") is None
    assert "RuntimeError: half-way" in pm.records["half"].error


def test_an_option_without_a_description_is_refused_with_the_plugins_name(monkeypatch):
    monkeypatch.delenv("DD_STRICT_PLUGINS", raising=False)
    from ddcore import Options

    class Bare(Options):
        k: int = 3

    class P:
        @hookimpl
        def register_options(self, register):
            register("bare", Bare)

    pm = PluginManager(load_entry_points=False)
    pm.add(P(), name="bare_plugin")
    pm.registry
    assert "option bare.k has no description" in pm.records["bare_plugin"].error


def test_builtins_register_through_the_same_hooks():
    pm = PluginManager(load_entry_points=False)
    reg = pm.registry
    assert reg.synthesizer["real"].plugin == "ddcore.real" and pm.records["ddcore.real"].builtin
    assert {"random", "herding"} <= set(reg.selector)
    assert {"digits", "mnist5k", "imagefolder", "cifar10", "cifar100"} <= set(reg.datasets)
    assert {"real", "herding"} <= set(reg.options) and "fresh_nets" in reg.evaluator
    assert {"convnet", "timm"} <= set(reg.models) and "zca" in reg.dataset_transforms


def test_hooks_run_only_for_named_plugins_in_the_users_order():
    calls = []

    def make(tag):
        class P:
            @hookimpl
            def weight_pixel_gradients(self, ctx, grads):
                calls.append(tag)
                return None

        return P()

    pm = PluginManager(load_entry_points=False)
    for tag in ("a", "b", "c"):
        pm.add(make(tag), name=tag)
    pm.call_in_order("weight_pixel_gradients", ["c", "a"], ctx=None, grads=None)
    assert calls == ["c", "a"]


def test_a_wrapper_plugin_observes_and_changes_each_weighting_call(tmp_path):
    """Hooks go through pluggy: a ``wrapper=True`` plugin in the run sees every plugin's answer and
    may replace it (here it halves the toy modifier's pixel weights and records what it saw)."""
    import dd_toy
    import torch

    from ddcore import testing

    seen = []

    class Halve:
        @hookimpl(wrapper=True)
        def weight_pixel_gradients(self, ctx, grads):
            answers = yield
            seen.append(list(answers))
            return [a * 0.5 for a in answers]

    pm = testing.make_plugin_manager(dd_toy, (Halve(), "halve"))
    opts = {"toy": {"iterations": 3}, "toy_weights": {"pixel_scale": 4.0}}
    # "halve" implements only a wrapper: it is named like a modifier and wraps the calls of the others
    halved = testing.run_tiny(["toy", "toy_weights", "halve"], tmp_path / "h", options=opts, manager=pm)
    assert seen == [[4.0]] * 3
    plain = testing.run_tiny(["toy", "toy_weights"], tmp_path / "p", options={"toy": {"iterations": 3}, "toy_weights": {"pixel_scale": 2.0}}, manager=pm)
    assert torch.equal(halved.images, plain.images)  # 4 × ½ is 2: the wrapper's answer is the one used


def test_a_modifier_alone_is_refused_in_one_sentence():
    import dd_toy

    from ddcore import testing
    from ddcore.planning import RunSpec, plan_run

    pm = testing.make_plugin_manager(dd_toy)
    with pytest.raises(ConfigError, match="the run has no synthesizer; put one before them"):
        plan_run(RunSpec(plugins=["toy_weights"]), pm)


def test_a_plugin_can_register_a_dataset_and_runs_use_it(tmp_path):
    from ddcore import testing
    from ddcore.realdata import DatasetSpec, RealData

    def load(argument, options):
        import torch

        g = torch.Generator().manual_seed(int(argument or 0))
        x = torch.randn(40, 3, 4, 4, generator=g)
        y = torch.arange(4).repeat(10)
        x += y.view(-1, 1, 1, 1).float()
        return RealData("blobs", x, y, x[:8], y[:8], ["a", "b", "c", "d"], (0.0,) * 3, (1.0,) * 3, source="generated")

    class Blobs:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSpec(name="blobs", load=load, help="blobs:SEED — Gaussian blobs for tests"))

    pm = testing.make_plugin_manager((Blobs(), "blobs"))
    assert pm.registry.datasets["blobs"].plugin == "blobs"
    dset = testing.run_tiny(["real"], tmp_path / "r", dataset="blobs:3", ipc=2, manager=pm)
    testing.assert_artifact(dset, ipc=2, num_classes=4)
    assert dset.facts["dataset"] == "blobs:3" and dset.images.shape[1:] == (3, 4, 4)


def test_the_registry_rebuilds_after_a_later_plugin_joins():
    """Modifier objects join pluggy when the registry is built; adding a plugin later rebuilds it cleanly."""
    import dd_toy

    from ddcore import Selector, testing

    pm = testing.make_plugin_manager(dd_toy)
    assert "toy_weights" in pm.registry.modifier

    class Late:
        @hookimpl
        def register_selectors(self, register):
            class KeepNone(Selector):
                name = "late"

            register(KeepNone())

    assert pm.add(Late(), name="late")
    assert "late" in pm.registry.selector and "toy_weights" in pm.registry.modifier
    assert pm.records["dd_toy"].error is None
