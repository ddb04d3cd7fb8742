"""One change at a time from our preset toward the official EDF code's digits run: what moves IPC 1.

    python bench/edf_sweep.py                                   # digits IPC 1, every step, two runs at a time
    python bench/edf_sweep.py --steps base "lr_img 100" --jobs 1
    python bench/edf_sweep.py --dataset mnist5k --steps base "lr_lr 1e-5" --name edf_sweep-mnist5k

Issue 17 measured the official code's digits IPC-1 set at 90.28 ± 0.61 on `dd eval`'s default
protocol, against 86.7 for our `digits-ipc1` preset. Each row here is `dd run` with our tuned
preset (`<dataset>-ipc<N>` as it was at the row's commit) and one of the differences between the
two loops changed, or the whole `<dataset>-paper-ipc<N>` preset, evaluated twice with the same
evaluation seeds in every row (paired): on the default protocol (ConvNet-D2 on 8×8, the network
the set was distilled for) and on `convnet-pad3` (the official code's 1-channel network: a
cross-architecture check). Every run uses the same seed and one thread. Writes
``bench/results/NAME.json``; ``python bench/tables.py`` renders the EDF README's sweep table from it.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from _common import PRESETS, Results, auto_device, cross_architecture, device_name, in_parallel, parallel_arguments, protocol_arguments, run_evaluated

GSAM = ["edf.expert_sam_rho=0.01", "edf.expert_gsam_alpha=0.3", "edf.expert_sam_adaptive=true"]
STEPS = {  # name: (preset kind, options on top of it)
    "base": ("tuned", []),
    "iterations 1000": ("tuned", ["edf.iterations=1000"]),
    "lr_img 100": ("tuned", ["edf.lr_img=100"]),
    "iterations 1000, lr_img 100": ("tuned", ["edf.iterations=1000", "edf.lr_img=100"]),
    "10 experts": ("tuned", ["edf.num_experts=10"]),
    "GSAM experts": ("tuned", GSAM),
    "experts without replacement": ("tuned", ["edf.expert_sampling=without_replacement"]),
    "DSA crop 0.25, align_corners": ("tuned", ["edf.dsa_crop_ratio=0.25", "edf.dsa_align_corners=true"]),
    "convnet-pad3 experts": ("tuned", ["edf.expert_model=convnet-pad3"]),
    "SmoothGrad-CAM++ at the last pool": ("tuned", ["edf.cam_method=smoothgradcam++", "edf.cam_layer=last_pool"]),
    "lr_y 2": ("tuned", ["edf.lr_y=2"]),
    "lr_lr 1e-5": ("tuned", ["edf.lr_lr=1e-5"]),
    "lr_lr 1e-5, iterations 1000": ("tuned", ["edf.lr_lr=1e-5", "edf.iterations=1000"]),
    "lr_lr 1e-5, iterations 1000, DSA crop 0.25, align_corners": (
        "tuned", ["edf.lr_lr=1e-5", "edf.iterations=1000", "edf.dsa_crop_ratio=0.25", "edf.dsa_align_corners=true"]),
    "paper preset": ("paper", []),
}
CROSS_MODEL = "convnet-pad3"


def run(step: str, args) -> dict:
    """`dd run` of one step (own folder), then its set on the official network; the random-real baseline
    there depends only on the protocol, so only the first step evaluates it."""
    kind, options = STEPS[step]
    preset = PRESETS[kind].format(dataset=args.dataset, ipc=args.ipc)
    out = Path(args.out) / step.replace(",", "").replace(" ", "-")
    first = step == args.steps[0]  # the random-real baselines depend only on the protocol: the first step computes them
    own = run_evaluated(out, args, "--dataset", args.dataset, "--ipc", str(args.ipc), "--plugins", "edf", "--preset", preset,
                        *[a for o in options for a in ("-o", o)], *args.extra, baseline=first)
    cross = cross_architecture(out, args.dataset, args, CROSS_MODEL, baseline=first)
    edf = json.loads((out / "manifest.json").read_text())["edf"]
    return {"step": step, "preset": preset, "options": options, "distilled": own["distilled"], "random": own.get("random"), "cross": cross,
            "learned_step_size": edf.get("learned_step_size"), "skipped_iterations": edf.get("skipped_iterations"),
            "eval_protocol": own["protocol"], "wall_seconds": own["wall_seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--ipc", type=int, default=1)
    ap.add_argument("--name", default="edf_sweep", help="results/NAME.json (edf_sweep-SUFFIX for another dataset, IPC or protocol)")
    parallel_arguments(ap, jobs=2, threads=1)
    protocol_arguments(ap, "bench-runs/edf-sweep")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # recorded as the bench's threads: each run's own
    results = Results(args.name, auto_device(), args.seed, append=args.append, identity=("step",),
                      dataset=args.dataset, ipc=args.ipc, nets=args.nets, epochs=args.epochs, cross_model=CROSS_MODEL)  # a row says its preset and options
    print(f"# edf_sweep: {args.dataset} IPC {args.ipc}, K = {args.nets} nets × {args.epochs} epochs, seed {args.seed}, device {device_name()}")
    lock = threading.Lock()

    def one(step: str) -> None:
        row = run(step, args)
        with lock:
            results.add(**row)
            d, c = row["distilled"], row["cross"][CROSS_MODEL]["distilled"]
            print(f"| {step} | {d['mean']:.2f} ± {d['std']:.2f} | {c['mean']:.2f} ± {c['std']:.2f} | {row['wall_seconds']:.0f} s |", flush=True)

    in_parallel(args.jobs, args.steps, one)
    print(f"wrote {results.path}")


def table(result: dict) -> str:
    """The EDF README's sweep table, in the order of STEPS, with each row's paired difference from `base`."""
    rows = {r["step"]: r for r in result["rows"]}
    base = rows.get("base")

    def cell(r: dict) -> str:
        return f"{r['mean']:.2f} ± {r['std']:.2f}"

    def paired(r: dict, b: dict | None) -> str:
        from ddcore.builtins.paired import format_difference, paired_difference

        return format_difference(paired_difference(b["accuracies"], r["accuracies"])) if b and r is not b else ""

    since = f"`{base['preset']}` as at {base['git_commit']}" if base else "the tuned preset"  # a preset may change after its sweep
    lines = [f"| change from {since} | accuracy % | − base, paired (95 % interval) | on `{CROSS_MODEL}` % "
             "| learned step size | skipped iterations |", "|---|---|---|---|---|---|"]
    for name in [s for s in STEPS if s in rows] + [s for s in rows if s not in STEPS]:
        r = rows[name]
        cross = r["cross"][CROSS_MODEL]["distilled"]
        lines.append(f"| {name} | {cell(r['distilled'])} | {paired(r['distilled'], base['distilled'] if base else None)} | {cell(cross)} "
                     f"| {r['learned_step_size']:.4f} | {r['skipped_iterations']} |")
    cross_random = next((r["cross"][CROSS_MODEL]["random"] for r in rows.values() if r["cross"][CROSS_MODEL].get("random")), None)
    random = next((r["random"] for r in rows.values() if r.get("random")), None)
    if random:
        lines.append(f"| random real (same protocol) | {cell(random)} |  | {cell(cross_random) if cross_random else ''} |  |  |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
