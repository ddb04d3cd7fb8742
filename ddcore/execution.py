"""Runs a plan: load the data once, run every stage in order, write the artifact and its manifest.

Each stage's pool is saved under ``stages/`` (``stage_files.py``); with ``resume`` finished
stages are read back and the interrupted one continues from its last checkpoint, and stages
copied by ``--reuse-from`` are read back the same way. Under torchrun every rank runs every
stage (the stages split their work) and ends it with the same pool; rank 0 alone writes files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PluginError
from .stage_files import stage_file, stage_record

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet
    from .context import RunContext
    from .planning import Plan, RunSpec, Stage
    from .plugins import PluginManager
    from .realdata import RealData


@dataclass
class RunResult:
    """What a run made: the final set, where it was written, and the real data it was made from."""

    pool: DistilledSet
    artifact: Path
    data: RealData


def execute(spec: RunSpec, pm: PluginManager, plan: Plan, resume: bool = False, quiet: bool = False) -> RunResult:
    """Run every stage of ``plan`` in order and write the artifact."""
    from .atomic import write_json
    from .plugins import using
    from .reuse import read_reuse_record

    from .artifact import resolve_artifact_path
    from .distributed import distributed_context

    out_dir, d = Path(spec.out).expanduser(), distributed_context(spec.device)
    with using(pm):
        if not resume and d.is_main:
            write_json(out_dir / "run.json", spec.model_dump())
        with d.main_first():  # rank 0 decodes and caches; the others read the cache
            data = load_data(spec, pm)
        ctx = make_context(spec, plan, pm, data, quiet)
        ctx.resuming = resume
        pool, records = run_stages(plan, ctx, data, pm, resume, read_reuse_record(out_dir))
        pool.facts = {**pool.facts, **run_facts(spec, plan, pm, data, records), "distributed": {"world_size": d.world_size, "backend": d.backend or "none"}}
        artifact = pool.save(out_dir) if d.is_main else resolve_artifact_path(out_dir, must_exist=False)
        if d.is_main:
            write_json(out_dir / "manifest.json", pool.manifest())
        d.barrier()  # nobody reads the artifact before it exists
        ctx.stage, ctx.plugin = "", ""
        ctx.log(f"wrote {artifact} ({len(pool)} images, {pool.per_class_counts()[0]} per class)")
    return RunResult(pool, artifact, data)


def load_data(spec: RunSpec, pm: PluginManager) -> RealData:
    """The run's real data, loaded and transformed once (``?zca=`` fits are cached)."""
    from .cache import Cache
    from .realdata import load_real_data

    return load_real_data(spec.dataset, pm.registry, Cache(spec.cache_dir), spec.download)


def make_context(spec: RunSpec, plan: Plan, pm: PluginManager, data: RealData, quiet: bool) -> RunContext:
    import torch

    from .cache import Cache
    from .context import RunContext, pick_device
    from .distributed import distributed_context

    d = distributed_context(spec.device)
    device = pick_device(spec.device)
    torch.manual_seed(spec.seed)
    ctx = RunContext(device=device, seed=spec.seed, out_dir=Path(spec.out).expanduser(), cache=Cache(spec.cache_dir),
                     options=plan.options, active_plugins=plan.active_plugins, plugin_manager=pm, quiet=quiet or not d.is_main,
                     data=data, dist=d, run_id=spec.run_id)
    ctx.log(f"dataset {data.name}: {len(data.train_labels)} train images {list(data.image_shape)}, "
            f"{data.num_classes} classes; device {device}" + (f"; rank {d.rank} of {d.world_size} ({d.backend})" if d.active else ""))
    return ctx


def run_stages(plan: Plan, ctx: RunContext, data: RealData, pm: PluginManager, resume: bool,
               reused: dict[str, Any]) -> tuple[DistilledSet, list[dict[str, Any]]]:
    """Each stage in order: read back when finished earlier (or copied), else run, check, save."""
    from .artifact import DistilledSet

    pool: DistilledSet | None = None
    records: list[dict[str, Any]] = []
    for i, stage in enumerate(plan.stages):
        ctx.stage, ctx.stage_index, ctx.plugin = stage.name, i, stage.plugin
        ctx._generators.clear()
        ctx.state.clear()
        saved = stage_file(ctx.out_dir, i, stage.name)
        record = stage_record(plan, i, pm)
        records.append(record)
        copied = i < len(reused["stages"])
        if (resume or copied) and saved.exists():
            pool = DistilledSet.load(saved)
            if copied:
                record["reused_from"] = reused["from"]
            ctx.log(f"stage {i} {stage.label}: " + (f"identical in {reused['from']}, read back from its copy {saved}"
                                                     if copied else f"done earlier, read back from {saved}"))
            continue
        ctx.log(f"stage {i} {stage.label}: {stage.per_class} per class")
        ctx.rewind_metrics()
        started = time.perf_counter()
        pool = run_stage(stage, ctx, data, pool)
        ctx.flush_metrics()
        ctx.dist.barrier()  # every rank finished the stage before it is recorded as done
        pool.facts = {**pool.facts, "stages": list(records)}
        if ctx.dist.is_main:
            pool.save(saved)
        ctx.log(f"stage {i} {stage.name} finished in {time.perf_counter() - started:.1f}s")
    assert pool is not None
    return pool, records


def run_stage(stage: Stage, ctx: RunContext, data: RealData, pool: DistilledSet | None) -> DistilledSet:
    """One stage's component call, its contract checked; a plugin's own exception names the stage."""
    from .atomic import disk_full
    from .context import apply_scorer
    from .errors import DDError

    before = pool.per_class_counts() if pool is not None else None
    try:
        if stage.kind == "synthesizer":
            pool = stage.component.synthesize(ctx, data, stage.per_class)
            if "origin" not in pool.columns:
                pool = pool.with_columns(origin=[stage.name] * len(pool))
        elif stage.kind == "scorer":
            pool = apply_scorer(stage.component, ctx, pool, data)
        else:
            pool = stage.component.select(ctx, pool, data, stage.per_class)
    except (DDError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise disk_full(exc) or StageFailed(stage, exc) from exc
    bad = int((~pool.images.isfinite()).flatten(1).any(1).sum()) + (0 if pool.soft_labels is None else int((~pool.soft_labels.isfinite()).any(1).sum()))
    if bad:
        raise PluginError(stage.plugin, f"stage {stage.label} returned {bad} images or labels that are not finite (NaN or inf); "
                                        "nothing was saved for it; start again with other options (--overwrite), or --resume once the cause is gone.")
    expected = before if stage.mode == "refine" else [stage.per_class] * pool.num_classes
    if pool.per_class_counts() != expected:
        raise PluginError(stage.plugin, f"{stage.label} must leave {expected} images per class, left {pool.per_class_counts()}.")
    return pool


class StageFailed(PluginError):
    """A component raised something other than a ddcore error: named by stage and plugin, traceback kept."""

    exit_code = 1

    def __init__(self, stage: Stage, exc: BaseException):
        super().__init__(stage.plugin, f"stage {stage.label} failed: {type(exc).__name__}: {exc} "
                                       f"(a bug in the plugin, or run with -v for the traceback)")


def run_facts(spec: RunSpec, plan: Plan, pm: PluginManager, data: RealData, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the manifest records about the whole run."""
    import torch

    from . import __version__
    from .builtins.training import cpu_numerics

    plugins = dict.fromkeys([*(s.plugin for s in plan.stages), *(a.split(":")[0] for a in plan.active_plugins)])
    return {
        "dataset": spec.dataset, "data": data.describe(), "ipc": spec.ipc, "pool_factor": spec.pool_factor,
        "seed": spec.seed, "plugins": spec.plugins, "stages": records,
        "options": {k: v.model_dump(mode="json") for k, v in plan.options.items()},
        "evaluator": spec.evaluator,
        "plugin_versions": {name: pm.records[name].version for name in plugins if name in pm.records},
        "ddcore_version": __version__, "torch_version": torch.__version__,
        **cpu_numerics(),
    }
