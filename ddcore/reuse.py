"""`dd run --reuse-from RUN`: start a run from an earlier run's identical leading stages.

Ablations share prefixes: `edf,clip_select` and `edf,detector_refine,clip_select` both begin with
EDF distilling the same pool. Every stage draws its randomness from generators seeded by (run
seed, stage index, stage name) — what makes `--resume` exact — so copying an earlier run's
identical leading stage files into the new run folder and continuing from them like an
interrupted run gives the set a fresh run would make, without computing those stages again.

A stage counts as identical when the run settings that shape every stage (dataset, IPC, pool
factor, seed, device setting, the options of active modifier plugins) agree, the stage's record
(index, name, kind, mode, plugin, plugin version, images per class, options) equals the one the
earlier run saved with that stage's file, and every stage before it is identical too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, PluginError
from .stage_files import read_run_spec, stage_file, stage_record

if TYPE_CHECKING:  # pragma: no cover
    from .planning import Plan, RunSpec
    from .plugins import PluginManager

REUSE_RECORD = "reused.json"
RUN_SETTINGS = ("dataset", "ipc", "pool_factor", "seed", "device")


def read_reuse_record(run_dir: Path) -> dict[str, Any]:
    """Which leading stages of ``run_dir`` were copied from which run ({"from": None, "stages": []} when none)."""
    path = run_dir / REUSE_RECORD
    return json.loads(path.read_text()) if path.is_file() else {"from": None, "stages": []}


def check_reuse_sources(reuse_from: tuple[str, ...] | list[str], resume: bool, out: Path | None = None) -> None:
    """Refuse, before anything is written, a --reuse-from that cannot work."""
    if reuse_from and resume:
        raise ConfigError("--reuse-from starts a new run and --resume continues one; drop one of them.")
    for folder in reuse_from:
        if not (Path(folder).expanduser() / "run.json").is_file():
            raise ConfigError(f"--reuse-from {folder} is not a run folder (it holds no run.json); name a folder made by `dd run`.")
        if out is not None and Path(folder).expanduser().resolve() == out.expanduser().resolve():
            raise ConfigError(f"--reuse-from {folder} names the folder this run writes; choose another --out.")


def _run_settings(spec: RunSpec, plan: Plan) -> dict[str, Any]:
    settings = {k: getattr(spec, k) for k in RUN_SETTINGS}
    settings["modifier options"] = {m: plan.options[m].model_dump(mode="json") if m in plan.options else None for m in plan.modifiers}
    return settings


def identical_stages(spec: RunSpec, plan: Plan, pm: PluginManager, earlier: Path) -> tuple[int, str]:
    """How many leading stages of the run in ``earlier`` equal this run's, and why the next one does not."""
    from .artifact import DistilledSet
    from .planning import plan_run

    theirs = read_run_spec(earlier)
    try:
        their_plan = plan_run(theirs, pm)
    except (ConfigError, PluginError) as exc:
        return 0, f"its stages cannot be planned with the plugins installed now ({exc})"
    ours, their_settings = _run_settings(spec, plan), _run_settings(theirs, their_plan)
    differing = [k for k in ours if ours[k] != their_settings[k]]
    if differing:
        return 0, f"its {', '.join(differing)} differ"
    for i, stage in enumerate(plan.stages):
        if i >= len(their_plan.stages):
            return i, f"it has only {i} stages"
        if their_plan.stages[i].name != stage.name:
            return i, f"its stage {i} is {their_plan.stages[i].name}, not {stage.name}"
        saved = stage_file(earlier, i, stage.name)
        recorded = DistilledSet.read_facts(saved).get("stages", []) if saved.is_file() else []
        if len(recorded) <= i:
            return i, f"its stage {i} {stage.name} did not finish"
        mine = stage_record(plan, i, pm)
        differing = [k for k in mine if recorded[i].get(k) != mine[k]]
        if differing:
            return i, f"its stage {i} {recorded[i].get('stage')} differs in {', '.join(differing)}"
    return len(plan.stages), "every stage is identical"


def plan_reuse(spec: RunSpec, plan: Plan, pm: PluginManager, sources: list[str]) -> tuple[int, Path | None, str]:
    """The longest identical prefix among ``sources``: (stages, source folder, a line saying what is reused and why not more)."""
    best, source, why = -1, None, ""
    for folder in (Path(s).expanduser() for s in sources):
        n, reason = identical_stages(spec, plan, pm, folder)
        if n > best:
            best, source, why = n, folder, reason
    if best <= 0:
        return 0, None, f"--reuse-from: nothing to reuse, so every stage runs ({source}: {why})"
    names = [s.name for s in plan.stages[:best]]
    more = "" if best == len(plan.stages) else f"; stage {best} onwards runs ({why})"
    return best, source, f"--reuse-from: stages 0–{best - 1} ({', '.join(names)}) copied from {source}{more}"


def copy_stages(plan: Plan, count: int, source: Path, out: Path) -> None:
    """Copy the first ``count`` stage files of ``source`` into ``out`` and record where they came from."""
    from .atomic import atomic_path, write_json

    names = [s.name for s in plan.stages[:count]]
    for i, name in enumerate(names):
        with atomic_path(stage_file(out, i, name)) as tmp:
            shutil.copyfile(stage_file(source, i, name), tmp)
    write_json(out / REUSE_RECORD, {"from": str(source), "stages": names})
