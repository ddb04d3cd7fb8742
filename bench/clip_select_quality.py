"""clip_select against random sampling from the same pool.

    python bench/clip_select_quality.py                                   # digits and mnist5k, IPC 1 and 10, real and EDF pools
    python bench/clip_select_quality.py --datasets digits --pools real --extra -o clip_select.mode=facility

For each dataset × IPC × pool source, one `dd run --no-eval` (fresh folder under --out):
  * real pool: `--plugins clip_select` (the core's `real` stage draws pool_factor × IPC random real
    images per class, then clip_select keeps IPC);
  * EDF pool: `--plugins edf,clip_select --preset <dataset>-ipc<N>` (EDF distils pool_factor × IPC
    per class with the IPC-N preset, then clip_select keeps IPC).
clip_select runs with its defaults: no CLIP weights exist offline, so the small open_clip model
`dd clip_select fit` trains on the real training images (cached) is the encoder.
The baseline draws IPC per class uniformly at random from the very pool clip_select received
(the stage file before the selection), --draws times with different seeds; soft labels and the
learned lr travel with the images as they do for clip_select's pick.

Every set is evaluated with `dd eval`'s protocol: K = --nets ConvNets (D3; D2 on 8×8), --epochs
epochs, DSA, final-epoch test accuracy. The random-from-pool column pools the K nets of every
draw (mean ± std over draws × K). "random real" is the protocol's own baseline (random real
images from the whole training split; the same seeds for every row of a dataset and IPC, so it is
computed once for them). Prints a markdown table and writes ``bench/results/clip_select_quality.json``
(``-cuda`` on a GPU) row by row, from which ``python bench/tables.py`` renders the plugin README's table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import (Results, RunSharing, auto_device, device_name, evaluate, in_parallel, mean_std, options_of, parallel_arguments,
                     protocol_arguments)


def random_from_pool(pool_path: Path, ipc: int, seed: int, out: Path) -> Path:
    import torch

    from ddcore.artifact import DistilledSet

    pool = DistilledSet.load(pool_path)
    g = torch.Generator().manual_seed(seed)
    keep = torch.cat([pool.indices_of_class(c)[torch.randperm(int((pool.classes == c).sum()), generator=g)[:ipc]]
                      for c in range(pool.num_classes)])
    return pool.subset(keep).save(out)


def zero_shot_agreement(pool_path: Path) -> float:
    from ddcore.artifact import DistilledSet

    return float(DistilledSet.load(pool_path).columns["clip_zero_shot_correct"].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--ipcs", nargs="+", type=int, default=[1, 10])
    ap.add_argument("--pools", nargs="+", default=["real", "EDF"], choices=["real", "EDF"])
    ap.add_argument("--pool-factor", type=int, default=5)
    ap.add_argument("--draws", type=int, default=3, help="random selections from each pool")
    ap.add_argument("--stage1", action="store_true",
                    help="also clip_select's stage 1 alone (λ = 1: the top IPC by Q, no diversity): the CLIP ablation")
    ap.add_argument("--name", default="clip_select_quality", help="results/NAME.json (clip_select_quality-SUFFIX for another protocol)")
    protocol_arguments(ap, "bench-runs/clip_select")
    parallel_arguments(ap)
    args = ap.parse_args()
    if args.threads:  # every `dd` subprocess below inherits it
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from ddcore.builtins.finished_runs import stage_io

    print(f"# clip_select_quality: pool_factor {args.pool_factor}; K = {args.nets} nets × {args.epochs} epochs (eval.model convnet: "
          f"D3, D2 on 8×8; DSA; final-epoch accuracy); {args.draws} random draws per pool; seed {args.seed}; device {device_name()}; "
          f"clip_select defaults{' + ' + ' '.join(args.extra) if args.extra else ''}")
    print(table({"rows": []}))
    runs, options = RunSharing(args.reuse_from), options_of(args.extra)
    results = Results(args.name, auto_device(), args.seed, append=args.append, pool_factor=args.pool_factor,
                      draws=args.draws, nets=args.nets, epochs=args.epochs, extra=args.extra, reuse_from=args.reuse_from,
                      baseline="IPC per class uniformly at random from the pool clip_select received, seeds seed + 1000 + draw")
    for dataset in args.datasets:
        for ipc in args.ipcs:
            random_real = None  # the protocol's baseline depends only on the dataset and IPC: computed once
            for source in args.pools:
                out = Path(args.out) / f"{dataset}-ipc{ipc}-{source}"
                plugins, preset = ("clip_select", None) if source == "real" else ("edf,clip_select", f"{dataset}-ipc{ipc}")
                started = time.perf_counter()
                runs.run(out, plugins=plugins, dataset=dataset, ipc=ipc, seed=args.seed, pool_factor=args.pool_factor, preset=preset,
                         options=options, evaluate=False)
                seconds = time.perf_counter() - started
                pool = stage_io(out, "clip_select", "selector", "")[0]  # the scored pool the selection received
                if args.stage1:  # the same pool (its stages reused), stage 2's diversity switched off
                    runs.run(out.with_name(out.name + "-stage1"), plugins=plugins, dataset=dataset, ipc=ipc, seed=args.seed,
                             pool_factor=args.pool_factor, preset=preset, options=[*options, "clip_select.lam=1"], evaluate=False)
                # the row's evaluations are independent `dd eval` runs: --jobs of them at a time
                sets = {"clip": (out, random_real is None)}
                sets |= {k: (random_from_pool(pool, ipc, args.seed + 1000 + k, out / f"random-{k}.safetensors"), False) for k in range(args.draws)}
                sets |= {"stage1": (out.with_name(out.name + "-stage1"), False)} if args.stage1 else {}
                done: dict = {}
                in_parallel(args.jobs, list(sets), lambda name: done.__setitem__(
                    name, evaluate(sets[name][0], dataset, args.nets, args.epochs, baseline=sets[name][1])))
                clip, stage1 = done["clip"], done.get("stage1", {}).get("distilled")
                random_real = clip.get("random") or random_real
                accs = [a for k in range(args.draws) for a in done[k]["distilled"]["accuracies"]]
                row = results.add(dataset=dataset, ipc=ipc, pool=f"{source} ×{args.pool_factor}", random_from_pool=accs,
                                  clip_select=clip["distilled"], **({"clip_stage1": stage1} if stage1 else {}), random=random_real,
                                  eval_protocol=clip["protocol"], zero_shot_agreement=zero_shot_agreement(pool), wall_seconds=round(seconds, 1))
                print(table({"rows": [row]}).splitlines()[-1], flush=True)


def table(result: dict) -> str:
    """The plugin README's quality table, from the JSON: accuracies, and each selection's paired
    difference from random selection out of the same pool (network k of every draw shares its
    seeds with network k of the selection: the draws' mean per network is the pair), with a 95 % interval."""
    from ddcore.builtins.paired import format_difference, paired_difference

    def versus_random(r: dict, picked: dict) -> str:
        k = len(picked["accuracies"])
        draws = [r["random_from_pool"][i:i + k] for i in range(0, len(r["random_from_pool"]), k)]
        per_net = [sum(d[i] for d in draws) / len(draws) for i in range(k)]
        return format_difference(paired_difference(per_net, picked["accuracies"]))

    stage1 = any("clip_stage1" in r for r in result["rows"])
    lines = ["| dataset | IPC | pool | random from pool % | clip_select % | − random from pool (paired) |"
             + (" stage 1 only % | − random from pool (paired) |" if stage1 else "") + " random real % | CLIP zero-shot agreement on the pool |",
             "|---|---|---|---|---|---|" + ("---|---|" if stage1 else "") + "---|---|"]
    for r in result["rows"]:
        s1 = r.get("clip_stage1")
        lines.append(f"| {r['dataset']} | {r['ipc']} | {r['pool']} | {mean_std(r['random_from_pool'])} | "
                     f"{mean_std(r['clip_select']['accuracies'])} | {versus_random(r, r['clip_select'])} | "
                     + (f"{mean_std(s1['accuracies']) if s1 else ''} | {versus_random(r, s1) if s1 else ''} | " if stage1 else "")
                     + f"{mean_std(r['random']['accuracies'])} | {r['zero_shot_agreement']:.1%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
