"""Plugin manager: loads plugins from entry points, owns the registry, calls hooks through pluggy.

Loading is not selecting. Built-in plugins (entry points of the ``ddcore`` distribution) always
load; ``DD_LOAD_PLUGINS`` (comma-separated allow-list of entry-point or distribution names;
empty means none) and ``DD_DISABLE_PLUGINS`` (block-list) decide which others load. ``--plugins``
on ``dd run`` only decides which loaded names a run uses.

A plugin that fails to import, implements a hook that does not exist, raises while registering
or registers a name another plugin already has is left out whole (nothing it registered stays)
and reported with its name; the rest keep working. ``DD_STRICT_PLUGINS=1`` makes that an error.
"""

from __future__ import annotations

import difflib
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterator

import pluggy

from . import hookspecs
from .errors import DDError, PluginError

ENTRY_POINT_GROUP = "ddcore"
BUILTIN_DISTRIBUTION = "ddcore"
log = logging.getLogger("ddcore.plugins")

# registration hook -> (registry table, what the error messages call an entry)
REGISTRATIONS = {
    "register_synthesizers": ("synthesizer", "synthesizer"),
    "register_scorers": ("scorer", "scorer"),
    "register_selectors": ("selector", "selector"),
    "register_modifiers": ("modifier", "modifier"),
    "register_evaluators": ("evaluator", "evaluator"),
    "register_options": ("options", "options"),
    "register_datasets": ("datasets", "dataset"),
    "register_dataset_transforms": ("dataset_transforms", "dataset transform"),
    "register_models": ("models", "model family"),
}
COMPONENT_KINDS = ("synthesizer", "scorer", "selector", "modifier", "evaluator")


@dataclass
class PluginRecord:
    """What ``dd plugins`` shows for one plugin."""

    name: str
    version: str | None = None
    distribution: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    components: dict[str, dict[str, str]] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        loaded = {"error": self.error} if self.error else {"hooks": self.hooks, "components": self.components}
        return {"name": self.name, "version": self.version, "distribution": self.distribution, "builtin": self.builtin, **loaded}


@dataclass
class Registered:
    """One registered thing and the plugin that registered it."""

    value: Any
    plugin: str


class Registry:
    """Everything plugins registered: one table per kind (``REGISTRATIONS``' tables: ``synthesizer``,
    ``scorer``, ``selector``, ``modifier``, ``evaluator``, ``options``, ``datasets``,
    ``dataset_transforms``, ``models``), each name -> Registered."""

    def __init__(self) -> None:
        for table, _ in REGISTRATIONS.values():
            setattr(self, table, {})

    @property
    def components(self) -> dict[str, dict[str, Registered]]:
        return {kind: getattr(self, kind) for kind in COMPONENT_KINDS}

    def stage_names(self) -> list[str]:
        return sorted({n for kind in ("synthesizer", "scorer", "selector") for n in getattr(self, kind)})


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    return None if raw is None else [item.strip() for item in raw.split(",") if item.strip()]


def strict() -> bool:
    return os.environ.get("DD_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


class PluginManager:
    """A pluggy manager for project ``ddcore`` plus load records and the registry."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.warnings: list[str] = []
        self.owned: dict[str, list[str]] = {}  # plugin -> pluggy names of the modifier objects it registered
        self._registry: Registry | None = None
        self._callers: dict[tuple, pluggy.HookCaller] = {}
        self._load_entry_points(third_party=load_entry_points)

    # --- loading --------------------------------------------------------------------------

    def _load_entry_points(self, third_party: bool) -> None:
        allow = _env_list("DD_LOAD_PLUGINS")
        block = set(_env_list("DD_DISABLE_PLUGINS") or [])
        points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                        key=lambda e: (getattr(e.dist, "name", None) != BUILTIN_DISTRIBUTION, e.name))
        if not any(getattr(ep.dist, "name", None) == BUILTIN_DISTRIBUTION for ep in points):
            raise DDError("ddcore's built-in plugins are not registered (its entry points are missing); "
                          "reinstall it with `pip install -e .` (or `pip install ddcore`).")
        matched: set[str] = set()
        for ep in points:
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            names = {ep.name, dist_name} - {None}
            builtin = dist_name == BUILTIN_DISTRIBUTION
            if names & block:
                matched |= names & block
                continue
            if not builtin and (not third_party or (allow is not None and not names & set(allow))):
                continue
            record = PluginRecord(name=ep.name, distribution=dist_name, builtin=builtin,
                                  version=dist.version if dist is not None else None)
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the tool
                self._fail(record, f"failed to import: {type(exc).__name__}: {exc}")
                continue
            self.add(module, name=ep.name, record=record)
        for name in sorted(block - matched):
            hint = difflib.get_close_matches(name, sorted({ep.name for ep in points}), n=1)
            self._warn(f"DD_DISABLE_PLUGINS names {name!r}, which no installed plugin is called"
                       + (f" (did you mean {hint[0]!r}?)" if hint else ""))

    def add(self, plugin: object, name: str, record: PluginRecord | None = None) -> bool:
        """Register ``plugin`` (a module or object with hook implementations) under ``name``.

        Returns False (and records the error) when the plugin is invalid.
        """
        record = record or PluginRecord(name=name)
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(record, f"is invalid: {exc}")
            return False
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.pm.unregister(plugin)
            known = [n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "ddcore_spec", None)]
            hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, known, 1)) else "") for u in unknown]
            self._fail(record, "implements hooks that do not exist: " + ", ".join(hints))
            return False
        record.hooks = sorted({impl.function.__name__ for impl in self._impls(name)})
        self.records[name] = record
        self._registry = None
        self._callers.clear()
        return True

    def _unregister(self, name: str, modifiers_only: bool = False) -> None:
        """Take a plugin and every modifier object it registered out of pluggy."""
        self._callers.clear()
        for pluggy_name in [*([] if modifiers_only else [name]), *self.owned.pop(name, [])]:
            plugin = self.pm.get_plugin(pluggy_name)
            if plugin is not None:
                self.pm.unregister(plugin)

    def _impls(self, name: str) -> list:
        return [impl for hook in self.pm.hook.__dict__.values() if isinstance(hook, pluggy.HookCaller)
                for impl in hook.get_hookimpls() if impl.plugin_name == name]

    def _unknown_hooks(self, plugin: object) -> list[str]:
        marker = hookspecs.PROJECT + "_impl"
        out = []
        for attr in dir(plugin):
            value = getattr(plugin, attr, None)
            if callable(value) and hasattr(value, marker):
                hook = getattr(self.pm.hook, attr, None)
                if hook is None or hook.spec is None:
                    out.append(attr)
        return out

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("dd: warning: %s", message)

    def _fail(self, record: PluginRecord, message: str) -> None:
        record.error = message
        self.records[record.name] = record
        if strict():
            raise PluginError(record.name, message + " (DD_STRICT_PLUGINS is set)")
        self._warn(f"plugin {record.name!r} {message}; it is not loaded")

    # --- registry -------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry()
            for name in list(self.owned):  # a rebuild registers the modifier objects afresh
                self._unregister(name, modifiers_only=True)
            for name in list(self.records):
                if self.records[name].error is None:
                    self._register_plugin(name)
        return self._registry

    def _register_plugin(self, name: str) -> None:
        """Call ``name``'s registration hooks through pluggy; commit all of it or none of it."""
        staged: list[tuple[str, str, Any]] = []
        try:
            for hook_name, (table, what) in REGISTRATIONS.items():
                def register(*args: Any, table=table, what=what) -> None:
                    staged.append((table, *_entry(table, what, args, name)))
                self.subset_caller(hook_name, [name])(register=register)
            self._check_names(name, staged)
            self._register_modifiers(name, [v for t, _, v in staged if t == "modifier"])
        except Exception as exc:
            self._unregister(name)
            why = exc.detail if isinstance(exc, PluginError) else str(exc) if isinstance(exc, DDError) else f"{type(exc).__name__}: {exc}"
            self._fail(self.records[name], f"cannot register ({why})")
            return
        record = self.records[name]
        for table, key, value in staged:
            getattr(self._registry, table)[key] = Registered(value, name)
            if table in COMPONENT_KINDS:
                record.components.setdefault(table, {})[key] = getattr(value, "description", "")

    def _check_names(self, plugin: str, staged: list[tuple[str, str, Any]]) -> None:
        seen: set[tuple[str, str]] = set()
        for table, key, _ in staged:
            taken = getattr(self._registry, table).get(key)
            if taken is not None:
                raise PluginError(plugin, f"registers {table} {key!r}, which {taken.plugin!r} already has; "
                                          f"uninstall or disable one of them (DD_DISABLE_PLUGINS={plugin})")
            if (table, key) in seen:
                raise PluginError(plugin, f"registers {table} {key!r} twice")
            seen.add((table, key))

    def _register_modifiers(self, plugin: str, modifiers: list[Any]) -> None:
        """Each modifier object joins pluggy as ``plugin:name``, owned by ``plugin`` (unregistered with it)."""
        for mod in modifiers:
            pluggy_name = f"{plugin}:{mod.name}"
            self.pm.register(mod, name=pluggy_name)
            self._callers.clear()
            self.owned.setdefault(plugin, []).append(pluggy_name)
            unknown = self._unknown_hooks(mod)
            if unknown:
                raise PluginError(plugin, f"modifier {mod.name!r} implements hooks that do not exist: {', '.join(unknown)}")

    # --- calls ----------------------------------------------------------------------------

    def subset_caller(self, hook_name: str, plugin_names: list[str]) -> pluggy.HookCaller:
        """pluggy's caller of ``hook_name`` restricted to ``plugin_names`` (wrappers, tracing and
        tryfirst/trylast among them work as in any pluggy call)."""
        key = (hook_name, frozenset(plugin_names), len(self.pm.list_name_plugin()))
        if key not in self._callers:  # weighting hooks ask for the same subsets every iteration
            others = [p for n, p in self.pm.list_name_plugin() if n not in key[1]]
            self._callers[key] = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        return self._callers[key]

    def call_in_order(self, hook_name: str, plugin_names: list[str], **kwargs: Any) -> list[Any]:
        """Call ``hook_name`` once per plugin of ``plugin_names``, in that order; other plugins never
        run. The ``wrapper=True`` implementations of plugins in the list wrap every one of those calls."""
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        names = set(plugin_names)
        wrappers = [i.plugin_name for i in impls if (i.wrapper or i.hookwrapper) and i.plugin_name in names]
        results: list[Any] = []
        for name in plugin_names:
            if any(i.plugin_name == name and not (i.wrapper or i.hookwrapper) for i in impls):
                results.extend(self.subset_caller(hook_name, [name, *wrappers])(**kwargs))
        return results

    def plugins_json(self) -> list[dict[str, Any]]:
        self.registry
        return [r.as_json() for r in self.records.values()]


def _entry(table: str, what: str, args: tuple, plugin: str) -> tuple[str, Any]:
    """(name, value) of one ``register(...)`` call, checked."""
    from .options import check_options_model

    if table == "options":
        key, value = args
        check_options_model(plugin, key, value)
        return key, value
    (value,) = args
    key = getattr(value, "name", "")
    if not key or not isinstance(key, str):
        raise PluginError(plugin, f"registered a {what} without a name")
    if table == "evaluator" and getattr(value, "options", None) is not None:
        check_options_model(plugin, f"eval ({key})", value.options)
    return key, value


_MANAGER: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, loaded on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager()
    return _MANAGER


@contextmanager
def using(manager: PluginManager) -> Iterator[PluginManager]:
    """Make ``manager`` the process-wide one for a block (a run builds its models through it)."""
    global _MANAGER
    previous, _MANAGER = _MANAGER, manager
    try:
        yield manager
    finally:
        _MANAGER = previous
