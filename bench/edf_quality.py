"""EDF and its ablations against random real images, with ddcore's evaluation protocol.

    python bench/edf_quality.py                                  # digits and mnist5k, IPC 1 and 10
    python bench/edf_quality.py --datasets digits --ipcs 1 10 --nets 5

Every row is one `dd run` (fresh run folder under --out) with the preset `<dataset>-ipc<N>` and
`dd eval`'s protocol (K = --nets ConvNet networks (D3; D2 on 8×8), --epochs epochs, DSA, final-epoch test
accuracy). "random real" is the protocol's own baseline (a fresh random real subset per net).
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
import subprocess
import sys
import time
from pathlib import Path

from _common import Results, device_name, protocol_arguments

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


def run(dataset: str, ipc: int, method: str, args) -> dict:
    out = Path(args.out) / f"{dataset}-ipc{ipc}-{method.replace(' + ', '+').replace(' ', '')}"
    cmd = [sys.executable, "-m", "ddcore", "run", "--dataset", dataset, "--ipc", str(ipc), "--plugins", "edf",
           "--preset", f"{dataset}-ipc{ipc}", "--out", str(out), "--overwrite", "-q", "--seed", str(args.seed),
           "-o", f"eval.num_nets={args.nets}", "-o", f"eval.epochs={args.epochs}", *METHODS[method], *args.extra,
           *[a for run in finished_runs(args.reuse_from) if run.resolve() != out.resolve() for a in ("--reuse-from", str(run))]]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    result = json.loads((out / "eval.json").read_text())
    result["wall_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--ipcs", nargs="+", type=int, default=[1, 10])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    protocol_arguments(ap, "bench-runs/edf")
    args = ap.parse_args()
    print(f"# edf_quality: K = {args.nets} nets × {args.epochs} epochs (eval.model convnet: D3, D2 on 8×8; DSA; final-epoch accuracy), seed {args.seed}, "
          f"device {device_name()}, presets <dataset>-ipc<N>{', extra: ' + ' '.join(args.extra) if args.extra else ''}")
    print("| dataset | IPC | method | accuracy % (mean ± std) | random real % | run time (s) |")
    print("|---|---|---|---|---|---|")
    import torch

    results = Results("edf_quality", "cuda" if torch.cuda.is_available() else "cpu", args.seed, append=args.append, nets=args.nets,
                      epochs=args.epochs, presets="<dataset>-ipc<N>", extra=args.extra,
                      methods={m: " ".join(METHODS[m]) or "the preset as is" for m in METHODS})
    for dataset in args.datasets:
        for ipc in args.ipcs:
            for method in args.methods:
                r = run(dataset, ipc, method, args)
                d, b = r["distilled"], r["random"]
                print(f"| {dataset} | {ipc} | {method} | {d['mean']:.2f} ± {d['std']:.2f} | {b['mean']:.2f} ± {b['std']:.2f} | {r['wall_seconds']:.0f} |",
                      flush=True)
                results.add(dataset=dataset, ipc=ipc, method=method, distilled=d, random=b, eval_protocol=r["protocol"],
                            wall_seconds=round(r["wall_seconds"], 1))
    print(f"wrote {results.path}")


def table(result: dict) -> str:
    """The EDF README's table: one row per dataset and IPC, a column per method, from the JSON."""
    methods = list(dict.fromkeys(r["method"] for r in result["rows"]))
    cells = {(r["dataset"], r["ipc"], r["method"]): r for r in result["rows"]}
    lines = ["| dataset | IPC | random real | " + " | ".join(methods) + " |", "|---|---|---|" + "---|" * len(methods)]
    for dataset, ipc in dict.fromkeys((r["dataset"], r["ipc"]) for r in result["rows"]):
        row = [cells.get((dataset, ipc, m)) for m in methods]
        best = max(r["distilled"]["mean"] for r in row if r)
        shown = [f"**{r['distilled']['mean']:.2f} ± {r['distilled']['std']:.2f}**" if r and r["distilled"]["mean"] == best
                 else f"{r['distilled']['mean']:.2f} ± {r['distilled']['std']:.2f}" if r else "" for r in row]
        random = next(r["random"] for r in row if r)
        lines.append(f"| {dataset} | {ipc} | {random['mean']:.2f} ± {random['std']:.2f} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
