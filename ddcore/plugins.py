"""Plugin manager: loads plugins from entry points, isolates failures, owns the registry.

Loading is not selecting. ``DD_LOAD_PLUGINS`` (comma-separated allow-list of entry-point or
distribution names; empty means none) and ``DD_DISABLE_PLUGINS`` (block-list) decide what
loads. ``--plugins`` on ``dd run`` only decides which loaded stages a run uses.

A plugin that fails to import, fails pluggy's validation, implements a hook that does not exist
or raises while registering is reported with its name and left out; the rest keep working.
``DD_STRICT_PLUGINS=1`` turns such failures into errors (for plugin authors).
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import DuplicateNameError, PluginError

ENTRY_POINT_GROUP = "ddcore"

# Built-ins register through the same hooks as third-party plugins.
DEFAULT_PLUGINS = (
    "ddcore.default_plugins.datasets",
    "ddcore.default_plugins.evaluation",
    "ddcore.default_plugins.real",
    "ddcore.default_plugins.selectors",
)

REGISTRATION_HOOKS = {
    "register_synthesizers": "synthesizer",
    "register_scorers": "scorer",
    "register_selectors": "selector",
}


@dataclass
class PluginRecord:
    """What ``dd plugins`` shows for one plugin."""

    name: str
    version: str | None = None
    distribution: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.distribution:
            out["distribution"] = self.distribution
        out["builtin"] = self.builtin
        if self.error:
            out["error"] = self.error
        else:
            out["hooks"] = self.hooks
            out["components"] = self.components
        return out


@dataclass
class Registered:
    """One registered thing and the plugin that registered it."""

    value: Any
    plugin: str


@dataclass
class Registry:
    """Everything plugins registered, by kind and name."""

    components: dict[str, dict[str, Registered]] = field(
        default_factory=lambda: {kind: {} for kind in REGISTRATION_HOOKS.values()}
    )
    options: dict[str, Registered] = field(default_factory=dict)
    datasets: dict[str, Registered] = field(default_factory=dict)

    def stage_names(self) -> list[str]:
        names = {n for table in self.components.values() for n in table}
        return sorted(names)


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _strict() -> bool:
    return os.environ.get("DD_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


class PluginManager:
    """A pluggy manager for project ``ddcore`` plus load records and the component registry."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._registry: Registry | None = None
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            self.add(module, name=module_name, builtin=True)
        if load_entry_points:
            self._load_entry_points()

    # --- loading --------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        allow = _env_list("DD_LOAD_PLUGINS")
        block = set(_env_list("DD_DISABLE_PLUGINS") or [])
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            names = {ep.name, dist_name} - {None}
            if allow is not None and not names & set(allow):
                continue
            if names & block:
                continue
            record = PluginRecord(
                name=ep.name,
                distribution=dist_name,
                version=dist.version if dist is not None else None,
            )
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the tool
                self._fail(record, f"failed to import: {type(exc).__name__}: {exc}")
                continue
            self.add(module, name=ep.name, record=record)

    def add(self, plugin: object, name: str, builtin: bool = False, record: PluginRecord | None = None) -> bool:
        """Register ``plugin`` (a module or object with hook implementations) under ``name``.

        Returns False (and records the error) when the plugin is invalid.
        """
        record = record or PluginRecord(name=name, builtin=builtin)
        if builtin:
            from . import __version__

            record.version = __version__
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(record, f"is invalid: {exc}")
            return False
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.pm.unregister(plugin)
            known = [n for n in dir(hookspecs) if n.startswith(("register_", "weight_"))]
            hints = [f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, known, 1)) else "") for u in unknown]
            self._fail(record, "implements hooks that do not exist: " + ", ".join(hints))
            return False
        record.hooks = sorted(
            impl.function.__name__
            for hook_name in self._hook_names()
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
            if impl.plugin_name == name
        )
        self.records[name] = record
        self._registry = None
        return True

    def remove(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.records.pop(name, None)
        self._registry = None

    def _hook_names(self) -> list[str]:
        return [n for n in dir(self.pm.hook) if not n.startswith("_") and getattr(self.pm.hook, n).spec is not None]

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

    def _fail(self, record: PluginRecord, message: str) -> None:
        record.error = message
        self.records[record.name] = record
        if _strict():
            raise PluginError(record.name, message + " (DD_STRICT_PLUGINS is set)")
        print(f"dd: warning: plugin {record.name!r} {message}; it is not loaded", file=sys.stderr)

    def check_pending(self) -> None:
        """Pluggy's own check that no loaded plugin implements an unknown hook."""
        self.pm.check_pending()

    # --- registry -------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _call_each(self, hook_name: str, make_register: Callable[[str], Callable]) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            record = self.records.get(impl.plugin_name)
            try:
                impl.function(make_register(impl.plugin_name))
            except DuplicateNameError:
                raise
            except Exception as exc:
                if record is not None:
                    record.error = f"raised in {hook_name}: {type(exc).__name__}: {exc}"
                if _strict():
                    raise PluginError(impl.plugin_name, f"raised in {hook_name}: {exc}") from exc
                print(f"dd: warning: plugin {impl.plugin_name!r} raised in {hook_name}: {exc}", file=sys.stderr)

    def _build_registry(self) -> Registry:
        reg = Registry()

        def put(table: dict[str, Registered], what: str, name: str, value: Any, plugin: str) -> None:
            if not name or not isinstance(name, str):
                raise PluginError(plugin, f"registered a {what} without a name")
            if name in table and table[name].plugin != plugin:
                raise DuplicateNameError(
                    f"{what} {name!r} is registered by both {table[name].plugin!r} and {plugin!r}; "
                    f"uninstall or disable one of them (DD_DISABLE_PLUGINS={plugin})."
                )
            if name in table:
                raise DuplicateNameError(f"plugin {plugin!r} registered {what} {name!r} twice.")
            table[name] = Registered(value, plugin)
            rec = self.records.get(plugin)
            if rec is not None:
                rec.components.setdefault(what, []).append(name)

        for hook_name, kind in REGISTRATION_HOOKS.items():
            self._call_each(
                hook_name,
                lambda plugin, kind=kind: (lambda comp: put(reg.components[kind], kind, getattr(comp, "name", ""), comp, plugin)),
            )
        self._call_each(
            "register_options",
            lambda plugin: (lambda name, model: put(reg.options, "options", name, model, plugin)),
        )
        self._call_each(
            "register_datasets",
            lambda plugin: (lambda spec: put(reg.datasets, "dataset", getattr(spec, "name", ""), spec, plugin)),
        )
        return reg

    # --- run-scoped calls -----------------------------------------------------------------

    def call_in_order(self, hook_name: str, plugin_names: list[str], **kwargs: Any) -> list[Any]:
        """Call ``hook_name`` for each of ``plugin_names`` in that order; other plugins never run."""
        results = []
        hook = getattr(self.pm.hook, hook_name)
        by_plugin: dict[str, list] = {}
        for impl in hook.get_hookimpls():
            by_plugin.setdefault(impl.plugin_name, []).append(impl)
        for name in plugin_names:
            for impl in by_plugin.get(name, []):
                args = {k: kwargs[k] for k in impl.argnames}
                results.append(impl.function(**args))
        return results

    def implements(self, plugin_name: str, hook_name: str) -> bool:
        hook = getattr(self.pm.hook, hook_name)
        return any(impl.plugin_name == plugin_name for impl in hook.get_hookimpls())

    def plugins_json(self) -> list[dict[str, Any]]:
        try:
            self.registry
        except Exception as exc:  # show the collision instead of failing the listing
            return [r.as_json() for r in self.records.values()] + [{"error": str(exc)}]
        return [r.as_json() for r in self.records.values()]


_MANAGER: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, loaded on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager()
    return _MANAGER


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide manager (tests and ``ddcore.testing``)."""
    global _MANAGER
    _MANAGER = manager
