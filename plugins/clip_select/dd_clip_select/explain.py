"""``dd clip_select explain RUN``: why each image was kept or left out.

Reads the run's stage files (the scored pool the selection received and the images it kept) and
writes, under ``RUN/clip_select/``:

* ``scores.csv`` — one row per pool image: class, pool position, kept, pick order, every score;
* ``explain.json`` — per class: pool size, stage-1 candidates, kept, and the mean of each score
  over kept and rejected images;
* ``explain.png`` — one labelled row per class: the kept images in pick order, a blank, then the
  rejected images from best to worst by Q (as many as were kept).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from .components import COLUMNS, STAGE

SCORES = (*COLUMNS, "clip_diversity_at_pick")


def build_explanation(run_dir: str | Path, pm=None) -> dict:
    from ddcore import stage_sets

    run_dir = Path(run_dir).expanduser()
    pool, kept, dataset = stage_sets(run_dir, STAGE, "selector", "run it with --plugins ...,clip_select", pm)
    position = kept.columns["clip_pool_position"].long()
    chosen = torch.zeros(len(pool), dtype=torch.bool)
    chosen[position] = True
    pick = torch.full((len(pool),), -1, dtype=torch.long)
    pick[position] = kept.columns["clip_pick"].long()
    at_pick = torch.full((len(pool),), float("nan"))
    at_pick[position] = kept.columns["clip_diversity_at_pick"].float()
    scores = {c: pool.columns[c].float() for c in COLUMNS} | {"clip_diversity_at_pick": at_pick}
    facts = kept.facts.get(STAGE, {})
    out = run_dir / STAGE
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "scores.csv", pool, chosen, pick, scores)
    report = {"run": str(run_dir), "dataset": dataset, "encoder": facts.get("encoder"), "stage2": facts.get("stage2"),
              "per_class": [_class_row(c, name, pool, chosen, scores, facts) for c, name in enumerate(pool.class_names)]}
    report["png"] = str(_write_png(out / "explain.png", pool, chosen, pick, scores["clip_quality"]))
    (out / "explain.json").write_text(json.dumps(report, indent=2))
    return report


def _mean(x: torch.Tensor) -> float | None:
    x = x[~x.isnan()]
    return round(float(x.mean()), 4) if len(x) else None


def _class_row(c: int, name: str, pool, chosen: torch.Tensor, scores: dict, facts: dict) -> dict:
    m = pool.classes == c
    row = {"class": name, "pool": int(m.sum()), "kept": int((m & chosen).sum()),
           "candidates": (facts.get("candidates_per_class") or [None] * (c + 1))[c]}
    for key in COLUMNS:
        short = key.removeprefix("clip_")
        row[f"{short}_kept"], row[f"{short}_rejected"] = _mean(scores[key][m & chosen]), _mean(scores[key][m & ~chosen])
    return row


def _write_csv(path: Path, pool, chosen: torch.Tensor, pick: torch.Tensor, scores: dict) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "pool_position", "kept", "pick", *[k.removeprefix("clip_") for k in SCORES]])
        for i in range(len(pool)):
            w.writerow([pool.class_names[int(pool.classes[i])], i, int(chosen[i]), int(pick[i]),
                        *[f"{float(scores[k][i]):.4f}" for k in SCORES]])


def _write_png(path: Path, pool, chosen: torch.Tensor, pick: torch.Tensor, quality: torch.Tensor) -> Path:
    from ddcore import save_grid, to_pixels

    pixels = to_pixels(pool)
    blank = torch.full_like(pixels[:1], 255)
    rows, width, most_kept = [], 0, 0
    for c in range(pool.num_classes):
        idx = pool.indices_of_class(c)
        kept = idx[chosen[idx]]
        kept = kept[pick[kept].argsort()]
        rejected = idx[~chosen[idx]]
        rank = torch.nan_to_num(quality[rejected], nan=0.0)
        rejected = rejected[rank.argsort(descending=True, stable=True)][:len(kept)]
        rows.append(torch.cat([pixels[kept], blank, pixels[rejected]]))
        width, most_kept = max(width, len(rows[-1])), max(most_kept, len(kept))
    tiles = torch.cat([torch.cat([r, blank.expand(width - len(r), -1, -1, -1)]) for r in rows])
    return save_grid(tiles, path, width, row_labels=pool.class_names,
                     header={0: "kept, in pick order", most_kept + 1: "rejected, best Q first"})


def format_explanation(report: dict) -> str:
    lines = [f"run {report['run']} ({report['dataset']})", f"encoder: {report['encoder']}", f"stage 2: {report['stage2']}", "",
             "class | pool | candidates | kept | relevance kept/rejected | separability kept/rejected | Q kept/rejected | "
             "zero-shot correct kept/rejected | diversity kept/rejected"]

    def pair(r: dict, key: str) -> str:
        a, b = r[f"{key}_kept"], r[f"{key}_rejected"]
        return " / ".join("–" if v is None else f"{v:.3f}" for v in (a, b))

    for r in report["per_class"]:
        lines.append(" | ".join([r["class"], str(r["pool"]), str(r["candidates"]), str(r["kept"]), pair(r, "relevance"),
                                 pair(r, "separability"), pair(r, "quality"), pair(r, "zero_shot_correct"), pair(r, "diversity")]))
    lines.append(f"\nper image: {Path(report['run']) / STAGE / 'scores.csv'}; picture: {report['png']}")
    return "\n".join(lines)
