"""What ``dd run`` and ``dd eval`` do, as functions the CLI and tests share (no printing here)."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, DDError
from .options import load_run_file, merge, parse_assignments
from .planning import EVAL_OPTIONS, RunSpec, plan_run
from .stage_files import read_run_spec

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet
    from .plugins import PluginManager
    from .realdata import RealData

RUN_KEYS = set(RunSpec.model_fields) - {"options", "run_id"}


def build_spec(
    *,
    dataset=None, ipc=None, plugins=None, pool_factor=None, options=(), config_path=None, out=None, seed=None,
    device=None, cache_dir=None, download=None, evaluate=None, evaluator=None, baselines=(), resume_dir=None, preset=None,
) -> RunSpec:
    """Defaults < run file < command line. With ``resume_dir`` the saved spec is used as is."""
    flags = {
        "dataset": dataset, "ipc": ipc, "pool_factor": pool_factor, "out": out, "seed": seed, "device": device,
        "cache_dir": cache_dir, "download": download, "evaluate": evaluate, "evaluator": evaluator, "preset": preset,
        "plugins": [p.strip() for p in plugins.split(",")] if plugins is not None else None,
        "baselines": [b for b in baselines if b != "none"] if baselines else None,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    if resume_dir is not None:
        extra = sorted(set(given) - {"device"}) + (["-o"] if options else []) + (["--config"] if config_path else [])
        if extra:
            raise ConfigError(f"--resume continues the run as it was started; drop {', '.join(extra)}.")
        spec = read_run_spec(resume_dir)
        return spec.model_copy(update={"out": str(resume_dir), **given})
    settings: dict[str, Any] = {}
    stage_options: dict[str, dict[str, Any]] = {}
    if config_path:
        data = load_run_file(config_path)
        for key, value in data.items():
            if isinstance(value, dict):
                stage_options[key] = value
            elif key in RUN_KEYS:
                settings[key] = [p.strip() for p in value.split(",")] if key == "plugins" and isinstance(value, str) else value
            else:
                raise ConfigError(f"run file {config_path} sets unknown key {key!r}; run keys are {', '.join(sorted(RUN_KEYS))}, stage options go in [stage] tables.")
    settings.update(given)
    settings["options"] = merge(stage_options, parse_assignments(options))
    if "out" not in settings:
        ds = settings.get("dataset", "digits").partition(":")[0].partition("?")[0]
        stack = "+".join(settings.get("plugins", ["real"]))
        settings["out"] = f"runs/{ds}-ipc{settings.get('ipc', 10)}-{stack}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        return RunSpec(**settings)
    except Exception as exc:  # pydantic ValidationError -> one sentence
        message = str(exc)
        errors = getattr(exc, "errors", lambda: [{"loc": ("?",), "msg": message}])()
        e = errors[0]
        raise ConfigError(f"run setting {'.'.join(map(str, e['loc']))} is invalid: {e['msg']}.") from None


def run(spec: RunSpec, pm: PluginManager, resume: bool = False, overwrite: bool = False, dry_run: bool = False, quiet: bool = False,
        reuse_from: tuple[str, ...] = ()) -> dict[str, Any]:
    """Plan once (on ``dry_run`` stop there), then execute and evaluate the set in memory. Returns a summary.

    ``reuse_from``: earlier run folders whose identical leading stages are copied instead of computed.
    """
    from .distributed import distributed_context
    from .execution import execute
    from .logs import logger_for, run_log
    from .reuse import check_reuse_sources, copy_stages, plan_reuse
    from .atomic import disk_full
    from .runfolder import owning

    check_reuse_sources(reuse_from, resume, Path(spec.out))
    plan = plan_run(spec, pm)
    summary = {"run": spec.model_dump(), "stages": plan.describe(), "modifiers": plan.modifiers,
               "options": {k: v.model_dump(mode="json") for k, v in plan.options.items()}}
    reused, source = 0, None
    if reuse_from:
        reused, source, summary["reuse"] = plan_reuse(spec, plan, pm, list(reuse_from))
    if dry_run:
        return summary
    from .builtins.collectives import broadcast_object

    d = distributed_context(spec.device)
    spec = spec.model_copy(update={"out": broadcast_object(spec.out, d)})  # a default --out names the time: rank 0's
    if not resume:  # checkpoints carry it: a run reads back only what it wrote itself
        spec = spec.model_copy(update={"run_id": broadcast_object(uuid.uuid4().hex[:12], d)})
    out = Path(spec.out).expanduser()
    with ExitStack() as folder:
        problem, took_over = None, ""
        if d.is_main:
            try:
                took_over = folder.enter_context(owning(out, resume, overwrite))
                if resume and read_run_spec(out).run_id != spec.run_id:
                    raise ConfigError(f"the run in {out} changed while this command started; run it again.")
                if reused:
                    copy_stages(plan, reused, source, out)
            except DDError as exc:
                problem = exc
            except OSError as exc:  # a folder that cannot be written, a filesystem without locks
                problem = disk_full(exc) or ConfigError(f"{out} cannot be used as a run folder ({exc}); choose another --out.")
        message = broadcast_object(str(problem or ""), d)  # rank 0 alone decides whether the folder can be used
        if message:
            raise problem or ConfigError(message)
        folder.enter_context(run_log(out if d.is_main else None))
        for line in (took_over, summary.get("reuse")):
            if line:
                logger_for().info("[dd] %s", line)
        result = execute(spec, pm, plan, resume=resume, quiet=quiet)
        summary["artifact"] = str(result.artifact)
        if spec.evaluate:
            summary["eval"] = evaluate_set(result.pool, result.artifact, result.data, pm, plan.evaluator,
                                           plan.options.get(EVAL_OPTIONS), spec.baselines, spec.device, spec.cache_dir, quiet)
    return summary


def evaluate_set(dset: DistilledSet, artifact: Path, data: RealData, pm: PluginManager, evaluator: Any, protocol: Any,
                 baselines, device: str, cache_dir: str | None, quiet: bool, show=None, own: bool = True) -> dict[str, Any]:
    """Run ``evaluator`` on a set already in memory, log (and ``show``) the summary, then write the
    result beside ``artifact`` (a failed write never loses the numbers): the run's own ``eval.json``,
    or with ``own=False`` (``dd eval``) a file named by the protocol, so no later evaluation replaces
    the run's own or one made with another protocol."""
    from .atomic import write_json
    from .cache import Cache
    from .context import RunContext, pick_device
    from .distributed import distributed_context
    from .logs import logger_for
    from .plugins import using

    d = distributed_context(device)
    ctx = RunContext(device=pick_device(device), seed=0, out_dir=artifact.parent, cache=Cache(cache_dir),
                     plugin_manager=pm, quiet=quiet or not d.is_main, data=data, stage="eval",
                     plugin=pm.registry.evaluator[evaluator.name].plugin,
                     options={EVAL_OPTIONS: protocol} if protocol is not None else {}, dist=d)
    ctx.log(f"evaluating {artifact} with {evaluator.name}")
    with using(pm):
        result = evaluator.evaluate(ctx, dset, data, protocol, tuple(b for b in baselines if b != "none"))
    result = {"evaluator": evaluator.name, **result, "artifact": str(artifact)}
    for line in evaluator.summary(result).splitlines():
        logger_for().info("[eval] %s", line)
    if d.is_main:
        (show or (lambda text: None))(evaluator.summary(result))
        from .builtins.finished_runs import eval_path, protocol_key

        path = eval_path(artifact, None if own else protocol_key(result))
        write_json(path, result)
        (show or (lambda text: None))(f"wrote {path}")
    return result
