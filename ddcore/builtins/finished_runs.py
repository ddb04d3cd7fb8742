"""A finished run folder's stages read back for people: a stage's input and output pools, with any
whitening undone, for ``dd show``, ``dd report`` and plugin reports (``ddcore.stage_sets``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddcore.errors import DataError
from ddcore.stage_files import read_manifest, read_run_spec, stage_file

if TYPE_CHECKING:  # pragma: no cover
    from ddcore.artifact import DistilledSet
    from ddcore.plugins import PluginManager


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

    from ddcore.artifact import DistilledSet

    dataset = read_run_spec(run_dir).dataset
    sets = [DistilledSet.load(p) for p in stage_io(run_dir, name, kind, hint)]
    sets = [for_display(replace(s, facts={**s.facts, "dataset": dataset}), pm) for s in sets]
    return sets[0], sets[1], dataset


def for_display(dset: DistilledSet, pm: PluginManager | None = None, cache_dir=None) -> DistilledSet:
    """The set with its dataset's whitening undone (PNGs must show pixels, not ZCA space)."""
    from dataclasses import replace

    from ddcore.cache import Cache
    from ddcore.plugins import get_plugin_manager
    from ddcore.realdata import load_real_data, parse_dataset

    registry = (pm or get_plugin_manager()).registry
    dataset = dset.facts.get("dataset") or ""
    if not parse_dataset(dataset, registry.dataset_transforms)[2]:
        return dset
    data = load_real_data(dataset, registry, Cache(cache_dir))
    return replace(dset, images=data.zca.undo(dset.images.float())) if data.zca is not None else dset


def evaluation_file(run_dir: Path) -> Path | None:
    """The evaluation a finished run is shown with: its own ``eval.json``, else the newest ``dd eval``
    result (``eval-KEY.json``), else None."""
    own = run_dir / "eval.json"
    if own.is_file():
        return own
    others = sorted(run_dir.glob("eval-*.json"), key=lambda p: p.stat().st_mtime)
    return others[-1] if others else None


def protocol_key(result: dict[str, Any]) -> str:
    """12 hex digits naming how a result was measured: evaluator, protocol, dataset and baselines (not
    how many processes shared the work, which leaves the numbers as they are)."""
    import hashlib
    import json

    protocol = {k: v for k, v in (result.get("protocol") or {}).items() if k not in ("processes", "nets_trained")}
    what = {"evaluator": result.get("evaluator"), "protocol": protocol, "dataset": result.get("dataset"),
            "baselines": [k for k in ("random", "full") if k in result]}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


def eval_path(artifact: Path, key: str | None = None) -> Path:
    """``eval.json`` beside a run's artifact (``<name>.eval.json`` beside any other file); with a
    protocol ``key``, ``eval-KEY.json`` (``<name>.eval-KEY.json``)."""
    from ddcore.artifact import ARTIFACT_NAME

    name = "eval" if key is None else f"eval-{key}"
    return artifact.parent / (f"{name}.json" if artifact.name == ARTIFACT_NAME else f"{artifact.stem}.{name}.json")
