"""``dd detector_refine report RUN``: what refinement did in a finished run.

Reads the run's stage files (the pool the refinement received and the pool it returned), and
writes ``RUN/detector_refine/report.json`` (anomaly rate per class before and after, rounds,
candidates) and ``RUN/detector_refine/replaced.png`` (each replaced image on the left, its
replacement on the right, one pair per row group). Returns the report as a dict.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

STAGE = "detector_refine"


def build_report(run_dir: str | Path, pm=None) -> dict:
    from ddcore import save_before_after, stage_sets

    run_dir = Path(run_dir).expanduser()
    before, after, dataset = stage_sets(run_dir, STAGE, "selector", "run it with --plugins ...,detector_refine", pm)
    facts = after.facts.get(STAGE, {})
    replaced = after.columns["replaced"].long()
    rows = facts.get("per_class", [])
    report = {
        "run": str(run_dir), "dataset": dataset, "generator": facts.get("generator"), "detector": facts.get("detector"),
        "detector_test_accuracy": facts.get("detector_test_accuracy"), "prototype_source": facts.get("prototype_source"),
        "rounds_run": facts.get("rounds_run", 0), "candidates_made": facts.get("candidates_made", 0), "rounds": facts.get("rounds", []),
        "per_class": [{**r, "rate_before": r["anomalous_before"] / max(1, r["images"]),
                       "rate_after": r["anomalous_after"] / max(1, r["images"])} for r in rows],
        "replaced_total": int((replaced > 0).sum()), "fallbacks": int((replaced == 2).sum()),
    }
    out = run_dir / STAGE
    out.mkdir(parents=True, exist_ok=True)
    idx = torch.nonzero(replaced > 0, as_tuple=False).flatten()
    if len(idx):
        report["png"] = str(save_before_after(before, after, idx, out / "replaced.png", header="each pair: anomalous image | its replacement"))
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def format_report(report: dict) -> str:
    lines = [f"run {report['run']} ({report['dataset']})", f"generator: {report['generator']}",
             f"detector: {report['detector']}" + (f", {report['detector_test_accuracy']:.1%} test accuracy"
                                                   if report.get("detector_test_accuracy") is not None else ""),
             f"regenerated from: {report['prototype_source']}",
             f"rounds run: {report['rounds_run']}, candidates made: {report['candidates_made']}, "
             f"images replaced: {report['replaced_total']} ({report['fallbacks']} by the fallback)", "",
             "| class | images | anomalous before | anomalous after | replaced |", "|---|---|---|---|---|"]
    for r in report["per_class"]:
        lines.append(f"| {r['class']} | {r['images']} | {r['anomalous_before']} ({r['rate_before']:.0%}) | "
                     f"{r['anomalous_after']} ({r['rate_after']:.0%}) | {r['replaced']} |")
    if report.get("png"):
        lines += ["", f"before | after pairs: {report['png']}"]
    return "\n".join(lines)
