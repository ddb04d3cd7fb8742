"""``dd compare RUN...``: one table of evaluation results across runs, for ablations.

Each row is a run folder: dataset, IPC, the stage chain, the evaluated accuracy (mean ± std over
the protocol's networks), the random-real baseline of the same evaluation, and the protocol
(networks × epochs, model). A run that was not evaluated says so instead of a number; a folder
that is not a run is an error naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ddcore.errors import DataError
from ddcore.hookspecs import hookimpl
from ddcore.stage_files import read_manifest


def run_row(run_dir: str | Path) -> dict[str, Any]:
    from ddcore.artifact import DistilledSet, resolve_artifact_path

    from .finished_runs import evaluation_file
    from .report import check_against_manifest

    folder = Path(run_dir).expanduser()
    m = read_manifest(folder)
    artifact = resolve_artifact_path(folder, must_exist=True)
    check_against_manifest(folder, DistilledSet.load(artifact), m)  # numbers only for the set they were measured on
    chain = [s["stage"] + (" (implicit)" if s.get("implicit") else "" if s["kind"] == "synthesizer" else f" ({s.get('mode') or s['kind']})")
             for s in m.get("stages", [])]
    row: dict[str, Any] = {"run": str(folder), "dataset": m.get("dataset"), "ipc": m.get("ipc"), "stages": " → ".join(chain) or "real"}
    path = evaluation_file(folder)
    if path is not None:
        try:
            e = json.loads(path.read_text())
            p = e["protocol"]
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{path} is damaged; evaluate the run again with `dd eval {folder}`.") from None
        row.update(result=e, distilled=(e["distilled"]["mean"], e["distilled"]["std"]),
                   random=(e["random"]["mean"], e["random"]["std"]) if "random" in e else None,
                   protocol=f"{p['num_nets']} × {p['model']}, {p['epochs']} epochs, {p.get('device', '?')}")
    return row


def compare_table(run_dirs: list[str | Path]) -> str:
    """A markdown table, one row per run, in the order given; each later run's accuracy minus the
    first run's, paired network by network (mean and 95 % t interval), where their protocols pair."""
    from .paired import format_difference, paired, paired_difference

    rows = [run_row(r) for r in run_dirs]
    first = rows[0].get("result") if rows else None
    lines = ["| run | dataset | IPC | stages | accuracy % (mean ± std) | random real % | Δ vs first run (paired, 95 % CI) | protocol |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        acc = f"{r['distilled'][0]:.2f} ± {r['distilled'][1]:.2f}" if "distilled" in r else "not evaluated (`dd eval RUN`)"
        rnd = f"{r['random'][0]:.2f} ± {r['random'][1]:.2f}" if r.get("random") else "–"
        delta = "–"
        if i and first is not None and "result" in r:
            delta = (format_difference(paired_difference(first["distilled"]["accuracies"], r["result"]["distilled"]["accuracies"]))
                     if paired(first, r["result"]) else "not paired (another protocol)")
        lines.append(f"| {r['run']} | {r['dataset']} | {r['ipc']} | {r['stages']} | {acc} | {rnd} | {delta} | {r.get('protocol', '–')} |")
    return "\n".join(lines)


@hookimpl
def register_commands(cli):
    import click

    @cli.command("compare")
    @click.argument("runs", nargs=-1, required=True, type=click.Path())
    def compare_cmd(runs) -> None:
        """One table of evaluation results across run folders (mean ± std, IPC, stages), for ablations."""
        click.echo(compare_table(list(runs)))
