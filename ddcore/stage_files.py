"""Stage persistence: where a stage's pool is saved, what the manifest says of it, and reading a
finished run folder's stages back (for ``--resume``, ``--reuse-from`` and plugin reports)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from .artifact import DistilledSet
    from .planning import Plan, RunSpec
    from .plugins import PluginManager


def stage_file(out_dir: Path, index: int, name: str) -> Path:
    return Path(out_dir) / "stages" / f"{index:02d}-{name}.safetensors"


def stage_record(plan: Plan, index: int, pm: PluginManager) -> dict[str, Any]:
    """What the manifest says of stage ``index``: what ran, which plugin version, with which options."""
    stage = plan.stages[index]
    record = pm.records.get(stage.plugin)
    return {
        "index": index, "stage": stage.name, "kind": stage.kind, "mode": stage.mode,
        "plugin": stage.plugin, "plugin_version": record.version if record else None,
        "per_class": stage.per_class, "implicit": stage.implicit,
        "options": plan.options[stage.name].model_dump(mode="json") if stage.name in plan.options else {},
    }


def read_run_spec(run_dir: str | os.PathLike) -> RunSpec:
    """The spec saved by an earlier ``dd run`` in ``run_dir`` (for ``--resume``)."""
    from .planning import RunSpec

    path = Path(run_dir).expanduser() / "run.json"
    if not path.exists():
        raise DataError(f"{run_dir} holds no run.json; --resume needs a folder made by `dd run`.")
    try:
        return RunSpec(**json.loads(path.read_text()))
    except Exception as exc:
        raise DataError(f"{path} is damaged ({str(exc).splitlines()[0]}); start a new run instead.") from None


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A finished run's ``manifest.json``; one sentence when it is missing or damaged."""
    path = Path(run_dir).expanduser() / "manifest.json"
    if not path.is_file():
        raise DataError(f"{Path(run_dir).expanduser()} holds no manifest.json; give the folder of a finished `dd run`.")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} is damaged ({str(exc).splitlines()[0]}); rerun the run to rewrite it.") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path} is damaged (not a JSON object); rerun the run to rewrite it.")
    return manifest


def stage_io(run_dir: str | os.PathLike, name: str, kind: str, hint: str) -> tuple[Path, Path]:
    """(the pool stage ``name`` of ``kind`` received, the pool it returned) in a finished run folder.

    ``hint`` completes the sentence of the error when the run has no such stage (e.g. "run it
    with --plugins ...,clip_select").
    """
    run_dir = Path(run_dir).expanduser()
    stages = read_manifest(run_dir).get("stages", [])
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


def stage_sets(run_dir, name: str, kind: str, hint: str, pm: PluginManager | None = None):
    """(the pool stage ``name`` of ``kind`` received, the pool it returned, the run's dataset) from a
    finished run folder, ready to show (ZCA undone) — for plugin reports."""
    from dataclasses import replace

    from .artifact import DistilledSet

    dataset = read_run_spec(run_dir).dataset
    sets = [DistilledSet.load(p) for p in stage_io(run_dir, name, kind, hint)]
    sets = [for_display(replace(s, facts={**s.facts, "dataset": dataset}), pm) for s in sets]
    return sets[0], sets[1], dataset


def for_display(dset: DistilledSet, pm: PluginManager | None = None, cache_dir=None) -> DistilledSet:
    """The set with its dataset's whitening undone (PNGs must show pixels, not ZCA space)."""
    from dataclasses import replace

    from .cache import Cache
    from .plugins import get_plugin_manager
    from .realdata import load_real_data, parse_dataset

    registry = (pm or get_plugin_manager()).registry
    dataset = dset.facts.get("dataset") or ""
    if not parse_dataset(dataset, registry.dataset_transforms)[2]:
        return dset
    data = load_real_data(dataset, registry, Cache(cache_dir))
    return replace(dset, images=data.zca.undo(dset.images.float())) if data.zca is not None else dset
