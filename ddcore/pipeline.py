"""Turns ``--plugins a,b,c`` into ordered stages, checks the stack, and runs it.

Order comes from the user, never from pluggy. For each name, in order:

* a name with a **synthesizer** becomes the synthesis stage when no pool exists yet;
* a name with a **scorer** adds its score columns to the pool;
* a name with a **selector** refines the pool (``mode="refine"``) or chooses from it
  (``mode="select"``);
* a name that only implements call hooks (``weight_*``) is a *modifier*: it adds no stage but its
  hooks run inside an optimising synthesiser.

When the first stage would work on a pool that does not exist, the built-in ``real`` synthesiser
makes one. When a selection stage follows, the synthesiser makes ``pool_factor × ipc`` images per
class; the last selection stage keeps ``ipc``. Everything is checked before any compute.
"""

from __future__ import annotations

import difflib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError, DataError, PluginError

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet
    from .context import RunContext
    from .data.base import RealData
    from .plugins import PluginManager, Registry

IMPLICIT_SYNTHESIZER = "real"
EVAL_OPTIONS = "eval"
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
    baselines: list[str] = Field(default_factory=lambda: ["random"])


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
    def label(self) -> str:
        mode = getattr(self.component, "mode", "")
        return f"{self.name} ({'refine' if mode == 'refine' else 'select' if self.kind == 'selector' else self.kind})"


@dataclass
class Plan:
    """The checked, ordered stages of a run, with the plugins whose call hooks are active."""

    stages: list[Stage]
    active_plugins: list[str]
    modifiers: list[str]
    options: dict[str, BaseModel] = field(default_factory=dict)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"stage": s.name, "kind": s.kind, "mode": getattr(s.component, "mode", None), "plugin": s.plugin,
             "per_class": s.per_class, "implicit": s.implicit}
            for s in self.stages
        ]


def dataset_name(dataset: str) -> tuple[str, str | None]:
    """``"imagefolder:~/x"`` -> ``("imagefolder", "~/x")``."""
    name, sep, arg = dataset.partition(":")
    return name, (arg if sep else None)


def plan_run(spec: RunSpec, pm: PluginManager) -> Plan:
    """Resolve names, order, pool sizes and options; raise ConfigError before any compute."""
    registry = pm.registry
    names = [n.strip() for n in spec.plugins if n.strip()]
    if not names:
        raise ConfigError("--plugins is empty; name at least one stage, for example --plugins real.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"--plugins names {', '.join(dupes)} more than once; each stage runs once per run.")
    _check_dataset(spec.dataset, registry)

    modifier_plugins = {
        impl.plugin_name
        for hook in CALL_HOOKS
        for impl in getattr(pm.pm.hook, hook).get_hookimpls()
    }
    known = sorted(set(registry.stage_names()) | modifier_plugins)
    stages: list[Stage] = []
    modifiers: list[str] = []
    active: list[str] = []
    have_pool = False
    for name in names:
        comps = {kind: table.get(name) for kind, table in registry.components.items()}
        if not any(comps.values()):
            if name in modifier_plugins:
                modifiers.append(name)
                active.append(name)
                continue
            hint = difflib.get_close_matches(name, known, n=3)
            raise ConfigError(
                f"unknown plugin {name!r}"
                + (f" (did you mean {', '.join(map(repr, hint))}?)" if hint else "")
                + f"; known: {', '.join(known)}. `dd plugins` shows what is installed."
            )
        synth, scorer, selector = comps["synthesizer"], comps["scorer"], comps["selector"]
        if synth and not have_pool:
            stages.append(Stage(name, "synthesizer", synth.value, synth.plugin))
            have_pool = True
        elif synth and not (scorer or selector):
            before = ", ".join(s.name for s in stages)
            raise ConfigError(
                f"{name!r} synthesises a pool, but {before} before it already made one; a run has one synthesiser, "
                f"so put {name!r} first (--plugins {','.join([name] + [n for n in names if n != name])})."
            )
        if (scorer or selector) and not have_pool:
            real = registry.components["synthesizer"].get(IMPLICIT_SYNTHESIZER)
            if real is None:
                raise ConfigError(f"{name!r} works on a pool but no stage before it makes one; put a synthesiser first.")
            stages.append(Stage(IMPLICIT_SYNTHESIZER, "synthesizer", real.value, real.plugin, implicit=True))
            have_pool = True
        if scorer:
            stages.append(Stage(name, "scorer", scorer.value, scorer.plugin))
        if selector:
            stages.append(Stage(name, "selector", selector.value, selector.plugin))
        for reg in (synth, scorer, selector):
            if reg and reg.plugin not in active:
                active.append(reg.plugin)

    synths = [s for s in stages if s.kind == "synthesizer"]
    if modifiers and not any(getattr(s.component, "optimizes", False) for s in synths):
        raise ConfigError(
            f"{', '.join(map(repr, modifiers))} only weight the losses or gradients of an optimising synthesiser, "
            f"but {synths[0].name!r} does not optimise; add one (for example edf) before them."
        )
    _assign_pool_sizes(stages, spec.ipc, spec.pool_factor)

    option_names = [s.name for s in stages] + modifiers + [EVAL_OPTIONS]
    option_names = list(dict.fromkeys(option_names))
    from .options import validate_options

    models = {name: reg.value for name, reg in registry.options.items()}
    raw = _with_preset(spec, models, option_names)
    resolved = validate_options(raw, models, option_names)
    return Plan(stages=stages, active_plugins=active, modifiers=modifiers, options=resolved)


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


def _check_dataset(dataset: str, registry: Registry) -> None:
    from .data.zca import split_zca

    name, arg = dataset_name(split_zca(dataset)[0])
    if name not in registry.datasets:
        hint = difflib.get_close_matches(name, list(registry.datasets), n=3)
        raise ConfigError(
            f"unknown dataset {name!r}" + (f" (did you mean {', '.join(map(repr, hint))}?)" if hint else "")
            + f"; known: {', '.join(sorted(registry.datasets))}. `dd datasets` says how to point each at disk."
        )
    spec = registry.datasets[name].value
    if spec.needs_argument and not arg:
        raise ConfigError(f"dataset {name!r} needs a location: --dataset {name}:{spec.argument_help or 'PATH'}.")


def _assign_pool_sizes(stages: list[Stage], ipc: int, pool_factor: int) -> None:
    """Pool per class: ``pool_factor × ipc`` when a selection follows, shrinking geometrically to ``ipc``."""
    selects = [s for s in stages if s.kind == "selector" and getattr(s.component, "mode", "select") == "select"]
    pool = ipc * pool_factor if selects else ipc
    current = pool
    for s in stages:
        if s in selects:
            j = selects.index(s) + 1
            current = max(ipc, round(ipc * (pool / ipc) ** ((len(selects) - j) / len(selects))))
        s.per_class = pool if s.kind == "synthesizer" else current


# --- execution ----------------------------------------------------------------------------


def load_dataset(spec: RunSpec, pm: PluginManager) -> RealData:
    """The run's real data; a ``?zca=EPS`` suffix whitens it (``ddcore/data/zca.py``)."""
    from .cache import Cache
    from .data.zca import split_zca

    base, zca_eps = split_zca(spec.dataset)
    name, arg = dataset_name(base)
    ds = pm.registry.datasets[name].value
    cache = Cache(spec.cache_dir)
    data = ds.load(arg, {"cache_dir": cache.root / "datasets", "download": spec.download})
    return data.whitened(zca_eps) if zca_eps is not None else data


def open_dataset(dataset: str, pm: PluginManager, cache_dir: str | None = None, download: bool = False) -> RealData:
    """``--dataset`` text -> the loaded data, with the one-sentence errors of ``dd run`` (for plugin commands)."""
    _check_dataset(dataset, pm.registry)
    return load_dataset(RunSpec(dataset=dataset, cache_dir=cache_dir, download=download), pm)


def apply_scorer(scorer: Any, ctx: RunContext, pool: DistilledSet, data: RealData) -> DistilledSet:
    """Run a scorer and check it returned exactly its declared columns, one value per image."""
    import torch

    cols = scorer.score(ctx, pool, data)
    declared = set(scorer.columns)
    if set(cols) != declared:
        raise PluginError(scorer.name, f"scorer returned columns {sorted(cols)} but declares {sorted(declared)}.")
    for key, values in cols.items():
        if not isinstance(values, torch.Tensor) or values.shape != (len(pool),):
            raise PluginError(scorer.name, f"column {key!r} must be a tensor of shape ({len(pool)},).")
    return pool.with_columns(**cols)


def _check_counts(stage: Stage, pool: DistilledSet, before: list[int] | None) -> None:
    counts = pool.per_class_counts()
    if stage.kind == "selector" and getattr(stage.component, "mode", "select") == "refine":
        expected = before
    else:
        expected = [stage.per_class] * pool.num_classes
    if counts != expected:
        raise PluginError(stage.name, f"{stage.label} must leave {expected} images per class, left {counts}.")


def stage_file(out_dir: Path, index: int, name: str) -> Path:
    return out_dir / "stages" / f"{index:02d}-{name}.safetensors"


def stage_record(plan: Plan, index: int, pm: PluginManager) -> dict[str, Any]:
    """What the manifest says of stage ``index``: what ran, which plugin version, with which options."""
    stage = plan.stages[index]
    return {
        "index": index, "stage": stage.name, "kind": stage.kind, "mode": getattr(stage.component, "mode", None),
        "plugin": stage.plugin, "plugin_version": pm.records.get(stage.plugin).version if stage.plugin in pm.records else None,
        "per_class": stage.per_class, "implicit": stage.implicit,
        "options": plan.options[stage.name].model_dump(mode="json") if stage.name in plan.options else {},
    }


def stage_io(run_dir: str | os.PathLike, name: str, kind: str, hint: str) -> tuple[Path, Path]:
    """(the pool stage ``name`` of ``kind`` received, the pool it returned) in a finished run folder.

    For reports that compare a stage's input and output; ``hint`` completes the sentence of the
    error when the run has no such stage (e.g. "run it with --plugins ...,clip_select").
    """
    import json

    run_dir = Path(run_dir).expanduser()
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        raise DataError(f"{run_dir} holds no manifest.json; give the folder of a finished `dd run`.")
    stages = json.loads(manifest.read_text()).get("stages", [])
    found = [s for s in stages if s["stage"] == name and s["kind"] == kind]
    if not found or found[0]["index"] == 0:
        names = ", ".join(s["stage"] for s in stages)
        raise DataError(f"the run in {run_dir} has no {name} {kind} stage after a pool was made (its stages: {names}); {hint}.")
    i = found[0]["index"]
    paths = (stage_file(run_dir, i - 1, stages[i - 1]["stage"]), stage_file(run_dir, i, name))
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path} is missing; the run folder is incomplete, so rerun it.")
    return paths


def execute(spec: RunSpec, pm: PluginManager, resume: bool = False, quiet: bool = False) -> tuple[DistilledSet, Path]:
    """Run every stage in order and write the artifact; returns it and its path.

    With ``resume`` finished stages are read back from ``stages/`` and the interrupted stage
    continues from its last checkpoint; stages copied there by ``--reuse-from`` are read back too.
    """
    import torch

    from . import __version__
    from .artifact import DistilledSet
    from .atomic import write_json
    from .cache import Cache
    from .context import RunContext, pick_device
    from .reuse import read_reuse_record

    plan = plan_run(spec, pm)
    device = pick_device(spec.device)
    out_dir = Path(spec.out).expanduser()
    if not resume:
        write_json(out_dir / "run.json", spec.model_dump())
    reused = read_reuse_record(out_dir)
    data = load_dataset(spec, pm)
    torch.manual_seed(spec.seed)
    ctx = RunContext(
        device=device,
        seed=spec.seed,
        out_dir=out_dir,
        cache=Cache(spec.cache_dir),
        options=plan.options,
        active_plugins=plan.active_plugins,
        plugin_manager=pm,
        quiet=quiet,
        data=data,
    )
    ctx.log(f"dataset {data.name}: {data.describe()['num_train']} train images {list(data.image_shape)}, {data.num_classes} classes; device {device}")
    pool: DistilledSet | None = None
    records = []
    for i, stage in enumerate(plan.stages):
        ctx.stage, ctx.stage_index = stage.name, i
        ctx._generators.clear()
        ctx.state.clear()
        saved = stage_file(out_dir, i, stage.name)
        record = stage_record(plan, i, pm)
        copied = i < len(reused["stages"])
        if (resume or copied) and saved.exists():
            pool = DistilledSet.load(saved)
            if copied:
                record["reused_from"] = reused["from"]
                ctx.log(f"stage {i} {stage.label}: identical in {reused['from']}, read back from its copy {saved}")
            else:
                ctx.log(f"stage {i} {stage.label}: done earlier, read back from {saved}")
            records.append(record)
            continue
        ctx.log(f"stage {i} {stage.label}: {stage.per_class} per class")
        started = time.perf_counter()
        before = pool.per_class_counts() if pool is not None else None
        if stage.kind == "synthesizer":
            pool = stage.component.synthesize(ctx, data, stage.per_class)
            if "origin" not in pool.columns:
                pool = pool.with_columns(origin=[stage.name] * len(pool))
        elif stage.kind == "scorer":
            pool = apply_scorer(stage.component, ctx, pool, data)
        else:
            pool = stage.component.select(ctx, pool, data, stage.per_class)
        _check_counts(stage, pool, before)
        records.append(record)
        pool.facts = {**pool.facts, "stages": list(records)}
        pool.save(saved)
        ctx.log(f"stage {i} {stage.name} finished in {time.perf_counter() - started:.1f}s")

    assert pool is not None
    pool.facts = {
        **pool.facts,
        "dataset": spec.dataset,
        "data": data.describe(),
        "ipc": spec.ipc,
        "pool_factor": spec.pool_factor,
        "seed": spec.seed,
        "plugins": spec.plugins,
        "stages": records,
        "options": {k: v.model_dump(mode="json") for k, v in plan.options.items()},
        "plugin_versions": {name: pm.records[name].version for name in plan.active_plugins if name in pm.records},
        "ddcore_version": __version__,
        "torch_version": torch.__version__,
    }
    artifact = pool.save(out_dir)
    write_json(out_dir / "manifest.json", pool.manifest())
    ctx.log(f"wrote {artifact} ({len(pool)} images, {pool.per_class_counts()[0]} per class)")
    return pool, artifact


def read_run_spec(run_dir: str | os.PathLike) -> RunSpec:
    """The spec saved by an earlier ``dd run`` in ``run_dir`` (for ``--resume``)."""
    import json

    path = Path(run_dir).expanduser() / "run.json"
    if not path.exists():
        raise DataError(f"{run_dir} holds no run.json; --resume needs a folder made by `dd run`.")
    try:
        return RunSpec(**json.loads(path.read_text()))
    except Exception as exc:
        raise DataError(f"{path} is damaged ({str(exc).splitlines()[0]}); start a new run instead.") from None
