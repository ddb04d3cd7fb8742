"""Stage persistence: where a stage's pool is saved, what the manifest says of it, and the run
folder's ``run.json`` and ``manifest.json`` read back (for ``--resume`` and ``--reuse-from``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover
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
