"""Plugin loading: entry points, isolation of broken plugins, allow/block lists, the registry."""

from __future__ import annotations

import json

import pytest
from helpers import fake_installed_plugin

from ddcore import hookimpl
from ddcore.errors import DuplicateNameError, PluginError
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
    assert rec.components == {"selector": ["keep_first"]}


def test_broken_plugin_is_reported_and_the_rest_keep_working(site, capsys):
    pm = PluginManager()
    assert "this plugin is broken on purpose" in pm.records["broken"].error
    assert "broken" in capsys.readouterr().err
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


def test_block_list_skips_named_plugins(site, monkeypatch):
    monkeypatch.setenv("DD_DISABLE_PLUGINS", "broken,good")
    pm = PluginManager()
    assert "good" not in pm.records and "broken" not in pm.records
    assert "real" in pm.registry.components["synthesizer"]


def test_misspelt_hook_is_rejected_with_a_suggestion(tmp_path, monkeypatch):
    site = tmp_path / "site2"
    fake_installed_plugin(site, "dd-typo", "typo", "dd_typo_plugin", MISSPELT)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("DD_LOAD_PLUGINS", "typo")
    pm = PluginManager()
    err = pm.records["typo"].error
    assert "register_selector" in err and "register_selectors" in err
    pm.check_pending()  # the bad plugin was not kept, so pluggy's own check passes


def test_same_component_name_from_two_plugins_is_an_error_naming_both():
    class A:
        @hookimpl
        def register_synthesizers(self, register):
            from ddcore.default_plugins.real import RealSynthesizer

            register(RealSynthesizer())

    pm = PluginManager(load_entry_points=False)
    pm.add(A(), name="copycat")
    with pytest.raises(DuplicateNameError) as info:
        pm.registry
    assert "copycat" in str(info.value) and "ddcore.default_plugins.real" in str(info.value)
    listing = pm.plugins_json()
    assert "copycat" in json.dumps(listing)


def test_builtins_register_through_the_same_hooks():
    pm = PluginManager(load_entry_points=False)
    reg = pm.registry
    assert reg.components["synthesizer"]["real"].plugin == "ddcore.default_plugins.real"
    assert {"random", "herding"} <= set(reg.components["selector"])
    assert {"digits", "mnist5k", "imagefolder", "cifar10", "cifar100"} <= set(reg.datasets)
    assert {"real", "herding", "eval"} <= set(reg.options)


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


def test_a_plugin_can_register_a_dataset_and_runs_use_it(tmp_path):
    from ddcore import testing
    from ddcore.data.base import DatasetSpec, RealData

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
