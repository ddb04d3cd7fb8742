"""Hybrid chains against EDF alone and random real images, with ddcore's evaluation protocol.

    python bench/hybrid.py                               # digits and mnist5k, IPC 10
    python bench/hybrid.py --datasets digits --chains edf edf,clip_select

Every row is one `dd run` (fresh folder under --out) with `--preset <dataset>-ipc<N>` (EDF's
options; chains with a selection stage distil --pool-factor × IPC per class with it) and the
other plugins' defaults (no CLIP weights exist offline: clip_select fits its small CLIP on the
real data; detector_refine trains its small generator and detector). Evaluation: `dd eval`'s
protocol, K = --nets ConvNets (D3; D2 on 8×8), --epochs epochs, DSA, final-epoch test accuracy,
mean ± std; "random real" is the protocol's own baseline (random real images, same IPC; the
same seeds for every chain, so it is computed once per dataset).
Rows whose leading stages equal an earlier row's (the EDF pool of every chain with a selection
stage) are made with `dd run --reuse-from` the earlier rows, which copies those stages instead of
computing them and gives the same set as a fresh run; the "reused" column says how many were copied.
`edf,dgs` needs the example plugin: pip install -e examples/dd-dgs.
Writes ``bench/results/hybrid.json`` (``hybrid-cuda.json`` on a GPU) row by row: device, threads,
commit, protocol and every network's accuracy; ``python bench/tables.py`` renders the README table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import Results, RunSharing, auto_device, device_name, mean_std, options_of, protocol_arguments

CHAINS = ["edf", "edf,clip_select", "edf,detector_refine", "edf,detector_refine,clip_select", "edf,dgs"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--chains", nargs="+", default=CHAINS)
    ap.add_argument("--pool-factor", type=int, default=5)
    protocol_arguments(ap, "bench-runs/hybrid")
    args = ap.parse_args()
    print(f"# hybrid: IPC {args.ipc}, pool_factor {args.pool_factor}; K = {args.nets} nets × {args.epochs} epochs (eval.model convnet: "
          f"D3, D2 on 8×8; DSA; final-epoch accuracy); seed {args.seed}; device {device_name()}; presets <dataset>-ipc{args.ipc}"
          f"{'; options: ' + ' '.join(args.extra) if args.extra else ''}")
    print(table({"rows": []}))
    runs = RunSharing(args.reuse_from)
    results = Results("hybrid", auto_device(), args.seed, append=args.append, ipc=args.ipc, pool_factor=args.pool_factor,
                      nets=args.nets, epochs=args.epochs, presets=f"<dataset>-ipc{args.ipc}", extra=args.extra,
                      reuse_from=args.reuse_from)
    for dataset in args.datasets:
        random_real = None  # the protocol's baseline is the same for every chain of a dataset: computed with the first
        for chain in args.chains:
            out = Path(args.out) / f"{dataset}-ipc{args.ipc}-{chain.replace(',', '+')}"
            started = time.perf_counter()
            reused = runs.run(out, plugins=chain, dataset=dataset, ipc=args.ipc, seed=args.seed, pool_factor=args.pool_factor,
                              preset=f"{dataset}-ipc{args.ipc}", baseline=random_real is None,
                              options=[f"eval.num_nets={args.nets}", f"eval.epochs={args.epochs}", *options_of(args.extra)])
            r = json.loads((out / "eval.json").read_text())
            d, b = r["distilled"], r.get("random") or random_real
            random_real = b
            row = results.add(dataset=dataset, chain=chain, distilled=d, random=b, eval_protocol=r["protocol"],
                              wall_seconds=round(time.perf_counter() - started, 1), reused_stages=reused)
            print(table({"rows": [row]}).splitlines()[-1], flush=True)


def table(result: dict) -> str:
    """The README's hybrid-chains table, from the JSON (run times stay in the JSON: benches share the machine)."""
    lines = ["| dataset | chain | accuracy % (mean ± std) | random real % | reused stages |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['dataset']} | {r['chain']} | {mean_std(r['distilled']['accuracies'])} | {mean_std(r['random']['accuracies'])} | "
                     f"{r['reused_stages']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
