"""EDF and its ablations against random real images, with ddcore's evaluation protocol.

    python bench/edf_quality.py                                  # digits and mnist5k, IPC 1 and 10
    python bench/edf_quality.py --datasets digits --ipcs 1 10 --nets 5
    python bench/edf_quality.py --datasets digits --presets paper --methods EDF --append

Every row is one `dd run` (fresh run folder under --out) with a preset — `tuned`: ours,
`<dataset>-ipc<N>`; `paper`: `<dataset>-paper-ipc<N>`, configured as the official EDF code's run —
and `dd eval`'s protocol (K = --nets ConvNet networks (D3; D2 on 8×8), --epochs epochs, DSA,
final-epoch test accuracy), then `dd eval` of the EDF set on --cross-model (the official code's
1-channel network `convnet-pad3` by default: a cross-architecture column). "random real" is the
protocol's own baseline (a fresh random real subset per net); the coresets `herding` and `k-center`
(ddcore's built-in selectors, in the features of a ConvNet trained on the real data) choose IPC per
class from (nearly) the whole training split: the pool is the size of the smallest class.
Methods: MTT (hard labels, fixed window, no gate), DATM (ρ = 0, no DAE), DATM + CPD (ρ = 0.25,
no DAE), DATM + DAE (ρ = 0), EDF (the preset as is: its ρ, which is 0 at IPC 1 as in the paper,
and DAE). Every method of a row uses the same run seed and the same evaluation seeds (paired).
Prints a markdown table of mean ± std and writes ``bench/results/edf_quality.json`` (device,
threads, commit, protocol, each network's accuracy), from which ``python bench/tables.py``
renders the EDF README's table.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from _common import PRESETS, Results, auto_device, cross_architecture, device_name, in_parallel, parallel_arguments, protocol_arguments, run_evaluated

METHODS = {
    "MTT": ["-o", "edf.method=mtt", "-o", "edf.cpd_ratio=0", "-o", "edf.dae=false"],
    "DATM": ["-o", "edf.cpd_ratio=0", "-o", "edf.dae=false"],
    "DATM + CPD": ["-o", "edf.dae=false", "-o", "edf.cpd_ratio=0.25"],
    "DATM + DAE": ["-o", "edf.cpd_ratio=0"],
    "EDF": [],
}


def finished_runs(folders: list[str]) -> list[Path]:
    """Finished run folders under --reuse-from: `dd run --reuse-from` copies an identical EDF stage from one of them."""
    return [m.parent for d in folders for m in sorted(Path(d).glob("*/manifest.json"))]


def run_folder(out: str, preset: str, method: str) -> Path:
    return Path(out) / f"{preset}-{method.replace(' + ', '+').replace(' ', '')}"


def run(dataset: str, ipc: int, preset: str, method: str, args, baseline: bool) -> dict:
    out = run_folder(args.out, preset, method)
    result = run_evaluated(out, args, "--dataset", dataset, "--ipc", str(ipc), "--plugins", "edf", "--preset", preset,
                           *METHODS[method], *args.extra,
                           *[a for run in finished_runs(args.reuse_from) if run.resolve() != out.resolve() for a in ("--reuse-from", str(run))],
                           baseline=baseline)
    result["folder"] = out
    return result


CORESETS = {"herding": "herding", "k-center": "kcenter"}  # row name: the built-in selection stage (`dd run --plugins NAME`)


def whole_class_factor(dataset: str, ipc: int) -> int:
    """The pool factor whose pool is the whole of the smallest class: coresets choose from (nearly) all the real data."""
    from ddcore.realdata import open_dataset

    data = open_dataset(dataset)
    return min(len(data.class_indices(c)) for c in range(data.num_classes)) // ipc


def coreset(dataset: str, ipc: int, name: str, args) -> dict:
    """A coreset of real images chosen by a built-in selector from (nearly) the whole training split, evaluated
    with the same protocol: a baseline a distillation must beat to say anything."""
    factor = whole_class_factor(dataset, ipc)
    result = run_evaluated(Path(args.out) / f"{dataset}-ipc{ipc}-{CORESETS[name]}", args, "--dataset", dataset, "--ipc", str(ipc),
                           "--plugins", CORESETS[name], "--pool-factor", str(factor), "--baseline", "none")
    return {"distilled": result["distilled"], "pool_per_class": factor * ipc, "eval_protocol": result["protocol"],
            "wall_seconds": result["wall_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--ipcs", nargs="+", type=int, default=[1, 10])
    ap.add_argument("--presets", nargs="+", default=["tuned"], choices=list(PRESETS), help="tuned: <dataset>-ipc<N>; paper: <dataset>-paper-ipc<N>")
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS), help="none: only the coresets")
    ap.add_argument("--coresets", nargs="*", default=list(CORESETS), choices=list(CORESETS),
                    help="coreset baselines of each dataset and IPC (none: skip)")
    ap.add_argument("--cross-model", default="convnet-pad3", help="also evaluate the EDF sets on this architecture (none: skip)")
    ap.add_argument("--add-cross", action="store_true",
                    help="only evaluate the sets of the result file's rows that lack --cross-model (their run folders under --out)")
    protocol_arguments(ap, "bench-runs/edf")
    parallel_arguments(ap)
    ap.add_argument("--name", default="edf_quality", help="results/NAME.json (edf_quality-SUFFIX for another protocol, e.g. K = 10)")
    args = ap.parse_args()
    print(f"# edf_quality: K = {args.nets} nets × {args.epochs} epochs (eval.model convnet: D3, D2 on 8×8; DSA; final-epoch accuracy), "
          f"cross-architecture {args.cross_model}, seed {args.seed}, device {device_name()}{', extra: ' + ' '.join(args.extra) if args.extra else ''}")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # recorded as the bench's threads: each run's own
    results = Results(args.name, auto_device(), args.seed, append=args.append or args.add_cross,
                      identity=("dataset", "ipc", "preset", "method"), nets=args.nets, epochs=args.epochs,
                      presets={k: v.replace("{", "<").replace("}", ">") for k, v in PRESETS.items()},
                      cross_model=args.cross_model, extra=args.extra, methods={m: " ".join(METHODS[m]) or "the preset as is" for m in METHODS})
    if args.add_cross:
        add_cross(results, args)
        return
    print("| dataset | IPC | preset | method | accuracy % (mean ± std) | random real % | on cross-model % | run time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    tasks = [(dataset, ipc, None, name) for dataset in args.datasets for ipc in args.ipcs for name in args.coresets]
    tasks += [(dataset, ipc, PRESETS[kind].format(dataset=dataset, ipc=ipc), method)
              for dataset in args.datasets for ipc in args.ipcs for kind in args.presets for method in args.methods]
    # the random-real baseline depends only on the dataset, IPC and protocol (the same seeds): the first run of each
    # computes it, unless a row this run keeps (of the file it appends to) holds it already (the tables take it from any row)
    lock, baselines = threading.Lock(), {(r["dataset"], r["ipc"]) for r in results.data["rows"]
                                         if r.get("random") and (r["dataset"], r["ipc"], r["preset"], r["method"]) not in tasks}

    def one(task) -> None:
        dataset, ipc, preset, method = task
        if preset is None:
            r = coreset(dataset, ipc, method, args)
            with lock:
                print(f"| {dataset} | {ipc} | – | {method} | {r['distilled']['mean']:.2f} ± {r['distilled']['std']:.2f} | | | {r['wall_seconds']:.0f} |",
                      flush=True)
                results.add(dataset=dataset, ipc=ipc, preset=None, method=method, **r)
            return
        with lock:
            baseline = (dataset, ipc) not in baselines
            baselines.add((dataset, ipc))
        r = run(dataset, ipc, preset, method, args, baseline)
        d, b = r["distilled"], r.get("random")
        # the table's cross-architecture column is EDF's set (the other methods' would double the evaluation time)
        cross = cross_architecture(r["folder"], dataset, args, args.cross_model, baseline=True) if method == "EDF" and args.cross_model != "none" else {}
        c = cross.get(args.cross_model, {}).get("distilled")
        on_cross = f"{c['mean']:.2f} ± {c['std']:.2f}" if c else ""
        with lock:
            print(f"| {dataset} | {ipc} | {preset} | {method} | {d['mean']:.2f} ± {d['std']:.2f} | {_cell(b)} "
                  f"| {on_cross} | {r['wall_seconds']:.0f} |", flush=True)
            results.add(dataset=dataset, ipc=ipc, preset=preset, method=method, distilled=d, random=b, cross=cross,
                        eval_protocol=r["protocol"], wall_seconds=r["wall_seconds"])

    in_parallel(args.jobs, tasks, one)
    print(f"wrote {results.path}")


def add_cross(results: Results, args) -> None:
    """Evaluate on --cross-model the sets of earlier rows that lack it (the row keeps its commit; the evaluation records its own)."""
    baselines = set()
    for row in results.data["rows"]:
        if row["method"] != "EDF" or args.cross_model in row.get("cross", {}):  # the column is EDF's set
            continue
        folder = run_folder(args.out, row["preset"], row["method"])
        if not (folder / "manifest.json").is_file():
            print(f"{row['preset']} {row['method']}: no finished run folder {folder}; run the row again")
            continue
        key = (row["dataset"], row["ipc"])
        row["cross"] = cross_architecture(folder, row["dataset"], args, args.cross_model, baseline=key not in baselines)
        row["cross_git_commit"] = results.data["git_commit"]
        baselines.add(key)
        results.save()
        print(f"{row['preset']} {row['method']}: {row['cross'][args.cross_model]['distilled']['mean']:.2f} on {args.cross_model}")


def table(result: dict, view: str = "accuracy") -> str:
    """The EDF README's tables from the JSON. ``accuracy``: one row per dataset, IPC and preset,
    the coreset baselines, a column per method and the cross-architecture column (EDF's set on the
    other network), then the official code's measured sets (``edf_official_reference.json``).
    ``paired``: each method's paired difference from DATM and EDF's from each coreset, with 95 % intervals."""
    return paired_table(result) if view == "paired" else accuracy_table(result)


def _cell(r: dict | None, bold: bool = False) -> str:
    return "" if not r else f"**{r['mean']:.2f} ± {r['std']:.2f}**" if bold else f"{r['mean']:.2f} ± {r['std']:.2f}"


def _groups(result: dict) -> list[tuple[str, int, str | None]]:
    """(dataset, IPC, preset) of the rows: datasets as they first appear, then by IPC, tuned before paper (re-run rows go last in the file);
    a dataset and IPC with only coresets so far is one group with preset None."""
    groups = list(dict.fromkeys((r["dataset"], r["ipc"], r["preset"]) for r in result["rows"] if r["preset"] is not None))
    distilled = {g[:2] for g in groups}
    groups += list(dict.fromkeys((r["dataset"], r["ipc"], None) for r in result["rows"] if (r["dataset"], r["ipc"]) not in distilled))
    datasets = list(dict.fromkeys(g[0] for g in groups))
    return sorted(groups, key=lambda g: (datasets.index(g[0]), g[1], "-paper-" in (g[2] or "")))


def accuracy_table(result: dict) -> str:
    present = {r["method"] for r in result["rows"]}
    methods, coresets = [m for m in METHODS if m in present], [c for c in CORESETS if c in present]
    cross_model = result["protocol"].get("cross_model")
    cells = {(r["dataset"], r["ipc"], r["preset"], r["method"]): r for r in result["rows"]}
    crossed = cross_model not in (None, "none")
    lines = ["| dataset | IPC | preset | random real | " + "".join(f"{c} | " for c in coresets) + " | ".join(methods)
             + (f" | EDF on `{cross_model}` | random real on `{cross_model}` |" if crossed else " |"),
             "|---|---|---|---|" + "---|" * (len(coresets) + len(methods) + 2 * crossed)]
    for dataset, ipc, preset in _groups(result):
        row = [cells.get((dataset, ipc, preset, m)) for m in methods]
        baseline_rows = [cells.get((dataset, ipc, None, c)) for c in coresets]
        ran = [r["distilled"]["mean"] for r in row + baseline_rows if r]
        compared = len(ran) > 1  # bold marks the best set of the row, coresets included (not a lone one)

        def shown_cell(r: dict | None) -> str:
            return _cell(r and r["distilled"], compared and bool(r) and r["distilled"]["mean"] == max(ran))

        shown = [shown_cell(r) for r in row]
        random = next((r["random"] for r in result["rows"] if (r["dataset"], r["ipc"]) == (dataset, ipc) and r.get("random")), None)
        bases = [shown_cell(r) for r in baseline_rows]
        edf = (cells.get((dataset, ipc, preset, "EDF")) or {}).get("cross", {}).get(cross_model, {})
        cross_random = next((c["random"] for r in result["rows"] if (r["dataset"], r["ipc"]) == (dataset, ipc)
                             for c in [(r.get("cross") or {}).get(cross_model)] if c and c.get("random")), None)
        lines.append(f"| {dataset} | {ipc} | {f'`{preset}`' if preset else '–'} | {_cell(random)} | " + "".join(f"{b} | " for b in bases) + " | ".join(shown)
                     + (f" | {_cell(edf.get('distilled'))} | {_cell(cross_random)} |" if crossed else " |"))
    reference = Path(__file__).resolve().parent / "results" / "edf_official_reference.json"
    shown_sets = {(r["dataset"], r["ipc"]) for r in result["rows"]}
    for ref in [r for r in json.loads(reference.read_text())["rows"] if (r["dataset"], r["ipc"]) in shown_sets] if reference.is_file() else []:
        shown = [_cell(ref["distilled"]) if m == "EDF" else "" for m in methods]
        lines.append(f"| {ref['dataset']} | {ref['ipc']} | official EDF code¹ |  | " + " | " * len(coresets) + " | ".join(shown)
                     + (" |  |  |" if crossed else " |"))
    return "\n".join(lines)


def paired_table(result: dict) -> str:
    from ddcore.builtins.paired import format_difference, paired_difference

    cells = {(r["dataset"], r["ipc"], r["preset"], r["method"]): r["distilled"]["accuracies"] for r in result["rows"]}
    lines = ["| dataset | IPC | preset | K | difference | mean [95 % interval] (points) |", "|---|---|---|---|---|---|"]
    for dataset, ipc, preset in [g for g in _groups(result) if g[2] is not None]:
        pairs = [(m, "DATM") for m in ("MTT", "DATM + CPD", "DATM + DAE", "EDF")]
        ran = [m for m in METHODS if (dataset, ipc, preset, m) in cells]
        against = "EDF" if "EDF" in ran else ran[-1] if ran else "EDF"  # the fullest method run, against each coreset
        pairs += [(against, c) for c in CORESETS]
        for b, a in pairs:
            x = cells.get((dataset, ipc, preset if a in METHODS else None, a))
            y = cells.get((dataset, ipc, preset, b))
            if x and y and len(x) == len(y):
                lines.append(f"| {dataset} | {ipc} | `{preset}` | {len(x)} | {b} − {a} | {format_difference(paired_difference(x, y))} |")
        paper, ours = cells.get((dataset, ipc, PRESETS["paper"].format(dataset=dataset, ipc=ipc), "EDF")), cells.get((dataset, ipc, preset, "EDF"))
        if "-paper-" not in preset and paper and ours and len(paper) == len(ours):
            lines.append(f"| {dataset} | {ipc} | `{preset}` | {len(ours)} | EDF − the paper preset's EDF | "
                         f"{format_difference(paired_difference(paper, ours))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
