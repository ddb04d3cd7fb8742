"""Helpers for testing plugins: register plugin objects in-process and run a tiny pipeline.

Typical use in a plugin's tests::

    from ddcore import testing
    import dd_myplugin

    def test_my_stage(tmp_path):
        with testing.use_plugins(dd_myplugin):
            result = testing.run_tiny(["my_stage"], tmp_path, ipc=2)
        testing.assert_artifact(result, ipc=2, num_classes=10)
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .plugins import PluginManager, get_plugin_manager, set_plugin_manager

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet


def make_plugin_manager(*plugins: Any, entry_points: bool = False) -> PluginManager:
    """A fresh manager with the built-ins, ``plugins`` registered in-process, and optionally
    the installed entry points. Pass a module/object (named after its ``__name__``) or a
    ``(plugin, name)`` pair. Raises if a plugin is invalid, so tests see the reason."""
    manager = PluginManager(load_entry_points=entry_points)
    names = []
    for item in plugins:
        plugin, name = item if isinstance(item, tuple) else (item, getattr(item, "__name__", repr(item)))
        if not manager.add(plugin, name=name):
            raise AssertionError(f"plugin {name!r} did not register: {manager.records[name].error}")
        names.append(name)
    manager.registry  # registration hooks run now, so a plugin that cannot register fails here
    for name in names:
        if manager.records[name].error:
            raise AssertionError(f"plugin {name!r} did not register: {manager.records[name].error}")
    return manager


@contextmanager
def use_plugins(*plugins: Any, entry_points: bool = False) -> Iterator[PluginManager]:
    """Make a manager with ``plugins`` the process-wide one for the duration of the block."""
    from . import plugins as plugins_module

    previous = plugins_module._MANAGER
    manager = make_plugin_manager(*plugins, entry_points=entry_points)
    set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(previous)


def run_tiny(
    plugins: list[str],
    out: str | Path,
    *,
    ipc: int = 1,
    dataset: str = "digits",
    options: dict[str, dict[str, Any]] | None = None,
    pool_factor: int = 2,
    seed: int = 0,
    manager: PluginManager | None = None,
    resume: bool = False,
) -> DistilledSet:
    """Run ``plugins`` on a small dataset (digits by default) without evaluation, quietly.

    ``out`` is the run folder (a pytest ``tmp_path`` is fine). Returns the written artifact.
    """
    from .artifact import DistilledSet
    from .planning import RunSpec
    from .run import run

    spec = RunSpec(
        dataset=dataset, ipc=ipc, plugins=list(plugins), pool_factor=pool_factor, seed=seed, device="cpu",
        out=str(out), options=options or {}, evaluate=False,
    )
    run(spec, manager or get_plugin_manager(), resume=resume, overwrite=True, quiet=True)
    return DistilledSet.load(out)


def assert_artifact(dset: DistilledSet, ipc: int, num_classes: int | None = None) -> None:
    """The set is valid, has exactly ``ipc`` images per class and records its stages."""
    dset.validate()
    counts = dset.per_class_counts()
    if num_classes is not None:
        assert len(counts) == num_classes, f"expected {num_classes} classes, got {len(counts)}"
    assert all(c == ipc for c in counts), f"expected {ipc} images per class, got {counts}"
    assert dset.facts.get("stages"), "the artifact records no stages"
