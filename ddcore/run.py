"""What ``dd run`` and ``dd eval`` do, as functions the CLI and tests share."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import ConfigError
from .options import load_run_file, merge, parse_assignments
from .pipeline import EVAL_OPTIONS, RunSpec, dataset_name, execute, plan_run, read_run_spec

if TYPE_CHECKING:  # pragma: no cover
    from .plugins import PluginManager

RUN_KEYS = set(RunSpec.model_fields) - {"options"}


def build_spec(
    *,
    dataset=None, ipc=None, plugins=None, pool_factor=None, options=(), config_path=None, out=None, seed=None,
    device=None, cache_dir=None, download=None, evaluate=None, baselines=(), resume_dir=None, preset=None,
) -> RunSpec:
    """Defaults < run file < command line. With ``resume_dir`` the saved spec is used as is."""
    flags = {
        "dataset": dataset, "ipc": ipc, "pool_factor": pool_factor, "out": out, "seed": seed, "device": device,
        "cache_dir": cache_dir, "download": download, "evaluate": evaluate, "preset": preset,
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
        ds = dataset_name(settings.get("dataset", "digits"))[0]
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
    """Plan (and on ``dry_run`` only print), then execute and evaluate. Returns a summary.

    ``reuse_from``: earlier run folders whose identical leading stages are copied instead of computed.
    """
    from .reuse import check_reuse_sources

    check_reuse_sources(reuse_from, resume, Path(spec.out))
    plan = plan_run(spec, pm)
    summary = {
        "run": spec.model_dump(),
        "stages": plan.describe(),
        "modifiers": plan.modifiers,
        "options": {k: v.model_dump(mode="json") for k, v in plan.options.items()},
    }
    reused, source = 0, None
    if reuse_from:
        from .reuse import plan_reuse

        reused, source, summary["reuse"] = plan_reuse(spec, plan, pm, list(reuse_from))
    if dry_run:
        click.echo(json.dumps(summary, indent=2))
        return summary
    out = Path(spec.out).expanduser()
    if not resume and out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{out} already holds files; choose another --out, add --overwrite, or continue it with --resume {out}.")
        shutil.rmtree(out)
    if reused:
        from .reuse import copy_stages

        copy_stages(plan, reused, source, out)
    if reuse_from and not quiet:
        click.echo(f"[dd] {summary['reuse']}", err=True)
    pool, artifact = execute(spec, pm, resume=resume, quiet=quiet)
    summary["artifact"] = str(artifact)
    if spec.evaluate:
        summary["eval"] = evaluate_artifact(artifact, pm, baselines=spec.baselines, device=spec.device,
                                            cache_dir=spec.cache_dir, protocol=plan.options.get(EVAL_OPTIONS), quiet=quiet)
    return summary


def evaluate_artifact(
    path, pm: PluginManager, options=(), baselines=(), dataset=None, device="auto", cache_dir=None, protocol=None, quiet=False,
) -> dict[str, Any]:
    """Evaluate the artifact at ``path`` and write ``eval.json`` beside it."""
    from .artifact import DistilledSet, resolve_artifact_path
    from .atomic import write_json
    from .context import pick_device
    from .evaluate import evaluate, format_result
    from .options import validate_options

    artifact = resolve_artifact_path(path, must_exist=True)
    dset = DistilledSet.load(artifact)
    if protocol is None:
        models = {EVAL_OPTIONS: pm.registry.options[EVAL_OPTIONS].value}
        protocol = validate_options(parse_assignments(options), models, [EVAL_OPTIONS])[EVAL_OPTIONS]
    ds = dataset or dset.facts.get("dataset")
    if not ds:
        raise ConfigError(f"{artifact} does not say which dataset it was made from; pass --dataset.")
    from .pipeline import open_dataset

    data = open_dataset(ds, pm, cache_dir)
    if list(data.class_names) != list(dset.class_names) or tuple(data.image_shape) != tuple(dset.images.shape[1:]):
        raise ConfigError(f"{artifact} was made for other classes or image sizes than dataset {ds!r}; pass the matching --dataset.")
    chosen = [b for b in (baselines or ["random"]) if b != "none"]
    result = evaluate(dset, data, protocol, pick_device(device), baselines=tuple(chosen), quiet=quiet)
    result["artifact"] = str(artifact)
    write_json(eval_path(artifact), result)
    click.echo(format_result(result))
    return result


def stage_sets(run_dir, name: str, kind: str, hint: str, pm: PluginManager | None = None):
    """(the pool stage ``name`` of ``kind`` received, the pool it returned, the run's dataset) from a
    finished run folder, ready to show (ZCA undone when ``pm`` is given) — for plugin reports."""
    from dataclasses import replace

    from .artifact import DistilledSet
    from .pipeline import stage_io

    dataset = read_run_spec(run_dir).dataset
    sets = [DistilledSet.load(p) for p in stage_io(run_dir, name, kind, hint)]
    if pm is not None:
        sets = [for_display(replace(s, facts={**s.facts, "dataset": dataset}), pm) for s in sets]
    return sets[0], sets[1], dataset


def for_display(dset, pm: PluginManager, cache_dir=None):
    """The set with ZCA undone when its dataset was whitened (PNGs must show pixels, not ZCA space)."""
    from dataclasses import replace

    from .data.zca import split_zca

    dataset = dset.facts.get("dataset") or ""
    if split_zca(dataset)[1] is None:
        return dset
    from .pipeline import load_dataset

    data = load_dataset(RunSpec(dataset=dataset, cache_dir=cache_dir), pm)
    return replace(dset, images=data.zca.undo(dset.images.float()))


def eval_path(artifact: Path) -> Path:
    """``eval.json`` beside a run's artifact; ``<name>.eval.json`` beside any other file."""
    from .artifact import ARTIFACT_NAME

    return artifact.parent / ("eval.json" if artifact.name == ARTIFACT_NAME else f"{artifact.stem}.eval.json")
