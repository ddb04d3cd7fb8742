"""Turns ``--plugins a,b,c`` into ordered, checked stages with resolved options: a run's plan.

Order comes from the user, never from pluggy. For each name, in order:

* a name with a **synthesizer** becomes the synthesis stage when no pool exists yet;
* a name with a **scorer** adds its score columns to the pool;
* a name with a **selector** refines the pool (``mode="refine"``) or chooses from it
  (``mode="select"``);
* a **modifier** (registered with ``register_modifiers``, or a plugin that implements only the
  ``weight_*`` hooks, named by its entry point) adds no stage; its hooks run inside an
  optimising synthesizer.

When the first stage would work on a pool that does not exist, the built-in ``real`` synthesizer
makes one. When a selection stage follows, the synthesizer makes ``pool_factor × ipc`` images per
class; the last selection stage keeps ``ipc``. Everything is checked before any compute.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError
from .options import validate_options
from .realdata import check_dataset

if TYPE_CHECKING:  # pragma: no cover
    from .plugins import PluginManager, Registry

IMPLICIT_SYNTHESIZER = "real"
EVAL_OPTIONS = "eval"
DEFAULT_EVALUATOR = "fresh_nets"
CALL_HOOKS = ("weight_matching_terms", "weight_pixel_gradients")


class RunSpec(BaseModel):
    """Everything that determines a run; saved as ``run.json`` so ``--resume`` needs nothing else."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = "digits"
    ipc: int = Field(10, ge=1)
    plugins: list[str] = Field(default_factory=lambda: [IMPLICIT_SYNTHESIZER])
    pool_factor: int = Field(5, ge=1)
    seed: int = 0
    device: str = "auto"
    out: str = "runs/latest"
    cache_dir: str | None = None
    download: bool = False
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    preset: str | None = None
    evaluate: bool = True
    evaluator: str = DEFAULT_EVALUATOR
    baselines: list[str] = Field(default_factory=lambda: ["random"])
    run_id: str = ""  # drawn when a run starts; its checkpoints carry it, so a run never reads another's


@dataclass
class Stage:
    """One step of a run: a registered component and who registered it."""

    name: str
    kind: str  # synthesizer | scorer | selector
    component: Any
    plugin: str
    per_class: int = 0  # images per class this stage must leave in the pool
    implicit: bool = False

    @property
    def mode(self) -> str | None:
        return getattr(self.component, "mode", None) if self.kind == "selector" else None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.mode or self.kind})"


@dataclass
class Plan:
    """The checked, ordered stages of a run, the plugins whose call hooks are active, the options."""

    stages: list[Stage]
    active_plugins: list[str]
    modifiers: list[str]
    evaluator: Any = None
    options: dict[str, BaseModel] = field(default_factory=dict)

    def describe(self) -> list[dict[str, Any]]:
        return [{"stage": s.name, "kind": s.kind, "mode": s.mode, "plugin": s.plugin, "per_class": s.per_class,
                 "implicit": s.implicit} for s in self.stages]


def plan_run(spec: RunSpec, pm: PluginManager) -> Plan:
    """Resolve names, order, pool sizes and options; raise ConfigError before any compute."""
    registry = pm.registry
    names = [n.strip() for n in spec.plugins if n.strip()]
    if not names:
        raise ConfigError("--plugins is empty; name at least one stage, for example --plugins real.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"--plugins names {', '.join(dupes)} more than once; each stage runs once per run.")
    check_dataset(spec.dataset, registry)
    stages, modifiers, active = _resolve_names(names, registry, _hook_only_plugins(pm))
    synths = [s for s in stages if s.kind == "synthesizer"]
    if modifiers and not any(getattr(s.component, "optimizes", False) for s in synths):
        what = f"but {synths[0].name!r} does not optimise" if synths else "but the run has no synthesizer"
        raise ConfigError(
            f"{', '.join(map(repr, modifiers))} only weight the losses or gradients of an optimising synthesizer, "
            f"{what}; put one before them (for example --plugins edf,{','.join(modifiers)})."
        )
    _assign_pool_sizes(stages, spec.ipc, spec.pool_factor)
    evaluator = evaluator_named(spec.evaluator, registry)
    option_names = list(dict.fromkeys([s.name for s in stages] + modifiers + [EVAL_OPTIONS]))
    models = {name: reg.value for name, reg in registry.options.items() if name != EVAL_OPTIONS}
    if evaluator.options is not None:
        models[EVAL_OPTIONS] = evaluator.options
    options = resolve_options(_with_preset(spec, models, option_names), models, option_names, registry)
    return Plan(stages=stages, active_plugins=active, modifiers=modifiers, evaluator=evaluator, options=options)


def resolve_options(raw: dict[str, dict[str, Any]], models: dict[str, Any], names: list[str], registry: Registry) -> dict[str, BaseModel]:
    """Validate, then let each model's ``implied_options`` fill what the user left unset, and validate again."""
    context = {"models": registry.models}
    resolved = validate_options(raw, models, names, context)
    implied: dict[str, dict[str, Any]] = {}
    for model in resolved.values():
        for target, values in model.implied_options().items():
            if target in names:
                implied.setdefault(target, {}).update(values)
    if not implied:
        return resolved
    merged = {n: {**implied.get(n, {}), **raw.get(n, {})} for n in set(raw) | set(implied)}
    return validate_options(merged, models, names, context)


def _hook_only_plugins(pm: PluginManager) -> set[str]:
    """Plugins implementing a weighting hook at module level: their entry-point name is a modifier name."""
    return {impl.plugin_name for hook in CALL_HOOKS for impl in getattr(pm.pm.hook, hook).get_hookimpls()
            if impl.plugin_name in pm.records}


def _resolve_names(names: list[str], registry: Registry, hook_plugins: set[str]):
    stages: list[Stage] = []
    modifiers: list[str] = []
    active: list[str] = []
    known = sorted(set(registry.stage_names()) | set(registry.modifier) | hook_plugins)
    for name in names:
        synth, scorer, selector = (getattr(registry, kind).get(name) for kind in ("synthesizer", "scorer", "selector"))
        modifier = registry.modifier.get(name)
        if not (synth or scorer or selector):
            if modifier is None and name not in hook_plugins:
                hint = difflib.get_close_matches(name, known, n=3)
                raise ConfigError(
                    f"unknown plugin {name!r}" + (f" (did you mean {', '.join(map(repr, hint))}?)" if hint else "")
                    + f"; known: {', '.join(known)}. `dd plugins` shows what is installed."
                )
            modifiers.append(name)
            active.append(f"{modifier.plugin}:{name}" if modifier else name)
            continue
        if synth and stages:
            if not (scorer or selector):
                before = ", ".join(s.name for s in stages)
                raise ConfigError(
                    f"{name!r} synthesises a pool, but {before} before it already made one; a run has one synthesizer, "
                    f"so put {name!r} first (--plugins {','.join([name] + [n for n in names if n != name])})."
                )
        elif synth:
            stages.append(Stage(name, "synthesizer", synth.value, synth.plugin))
        if (scorer or selector) and not stages:
            real = registry.synthesizer.get(IMPLICIT_SYNTHESIZER)
            if real is None:
                raise ConfigError(f"{name!r} works on a pool but no stage before it makes one; put a synthesizer first.")
            stages.append(Stage(IMPLICIT_SYNTHESIZER, "synthesizer", real.value, real.plugin, implicit=True))
        if scorer:
            stages.append(Stage(name, "scorer", scorer.value, scorer.plugin))
        if selector:
            stages.append(Stage(name, "selector", selector.value, selector.plugin))
        for reg in (synth, scorer, selector):
            if reg and reg.plugin not in active:
                active.append(reg.plugin)
    return stages, modifiers, active


def evaluator_named(name: str, registry: Registry) -> Any:
    """The registered evaluator ``name``; one sentence naming the known ones if there is none."""
    if name not in registry.evaluator:
        raise ConfigError(f"unknown evaluator {name!r}; known: {', '.join(sorted(registry.evaluator))}.")
    return registry.evaluator[name].value


def _with_preset(spec: RunSpec, models: dict[str, Any], stages: list[str]) -> dict[str, dict[str, Any]]:
    """``--preset NAME`` is ``-o STAGE.preset=NAME`` for every stage of the run with a ``preset`` option."""
    raw = {k: dict(v) for k, v in spec.options.items()}
    if spec.preset is None:
        return raw
    takers = [s for s in stages if s in models and "preset" in models[s].model_fields]
    if not takers:
        raise ConfigError(f"--preset {spec.preset} was given but no stage in this run takes presets; drop it or add a stage that does (e.g. edf).")
    for stage in takers:
        raw.setdefault(stage, {}).setdefault("preset", spec.preset)
    return raw


def _assign_pool_sizes(stages: list[Stage], ipc: int, pool_factor: int) -> None:
    """Pool per class: ``pool_factor × ipc`` when a selection follows, shrinking geometrically to ``ipc``."""
    selects = [s for s in stages if s.mode == "select"]
    pool = ipc * pool_factor if selects else ipc
    current = pool
    for s in stages:
        if s in selects:
            j = selects.index(s) + 1
            current = max(ipc, round(ipc * (pool / ipc) ** ((len(selects) - j) / len(selects))))
        s.per_class = pool if s.kind == "synthesizer" else current
