"""How long the evaluation protocol takes: K networks one after another, or together (``eval.batched``),
and on a GPU with the precision knobs (bf16 autocast, channels-last, torch.compile).

    python bench/eval_speed.py                          # digits and mnist5k, IPC 10, K = 5, 300 epochs, 3 repeats
    python bench/eval_speed.py --datasets digits --epochs 100 --repeats 2 --device cuda --knobs

Protocol: the set is a random real subset of the dataset (IPC per class, seed 0); `dd eval`'s
protocol (`convnet`: ConvNet-D2 w128 on 8×8 digits, D3 on 28×28 mnist5k; instance norm, SGD, DSA,
batch 256), no baselines. Each configuration runs ``--repeats`` times; the JSON
(``bench/results/eval_speed.json``, ``eval_speed-cuda.json`` on a GPU) keeps every wall-clock time
and the accuracies, and the table prints seconds mean ± std and the ratio to one after another.
"""

from __future__ import annotations

import argparse
import statistics
import time

VARIANTS = [  # (name, eval options); the first two are the CPU bench, the rest run with --knobs
    ("one after another", {"batched": False}),
    ("together", {"batched": True}),
    ("one after another, bf16", {"batched": False, "precision": "bf16", "channels_last": False}),
    ("one after another, bf16 + channels-last", {"batched": False, "precision": "bf16", "channels_last": True}),
    ("together, bf16", {"batched": True, "precision": "bf16"}),
    ("one after another, torch.compile", {"batched": False, "compile": True}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"], choices=["digits", "mnist5k"])
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--nets", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--knobs", action="store_true", help="also bf16, bf16 + channels-last and torch.compile (one after another)")
    args = ap.parse_args()
    from _common import Results  # bench/ is the script's folder

    import torch

    from ddcore import DistilledSet, open_dataset, pick_device
    from ddcore.builtins.evaluation import EvalOptions, evaluate, random_subset

    device = pick_device(args.device)
    results = Results("eval_speed", device, ipc=args.ipc, nets=args.nets, epochs=args.epochs, model=args.model, repeats=args.repeats,
                      set="random real subset, seed 0", eval_seed=0, baselines="none")  # saved after every row: a timeout keeps the rows done
    for name in args.datasets:
        data = open_dataset(name)
        idx = random_subset(data, [args.ipc] * data.num_classes, torch.Generator().manual_seed(0))
        dset = DistilledSet.from_real(data, images=data.train_images[idx], classes=data.train_labels[idx])
        for variant, knobs in VARIANTS[:len(VARIANTS) if args.knobs else 2]:
            times, accs = [], []
            for _ in range(args.repeats):
                options = EvalOptions(num_nets=args.nets, epochs=args.epochs, model=args.model, **knobs)
                tick = time.perf_counter()
                r = evaluate(dset, data, options, device, baselines=(), quiet=True)
                times.append(time.perf_counter() - tick)
                accs.append(r["distilled"]["accuracies"])
            results.add(dataset=name, variant=variant, options=knobs, batched=knobs["batched"], seconds=times, accuracies=accs)
            print(f"{name} {variant}: {statistics.mean(times):.2f} s", flush=True)
    print(f"# eval_speed: {results.data['device']} ({results.data['device_name']}), {results.data['threads']} threads -> {results.path}")
    print(table(results.data))


def table(result: dict) -> str:
    """The README table, generated from the JSON."""
    p = result["protocol"]
    lines = [f"| dataset | K = {p['nets']} nets trained | seconds (mean ± std of {p['repeats']}) | vs one after another | "
             "accuracy % of the first repeat |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        mean = statistics.mean(r["seconds"])
        sd = statistics.stdev(r["seconds"]) if len(r["seconds"]) > 1 else 0.0
        seq = next(x for x in result["rows"] if x["dataset"] == r["dataset"] and not x["batched"])
        accs = r["accuracies"][0]
        variant = r.get("variant") or ("together" if r["batched"] else "one after another")
        lines.append(f"| {r['dataset']} | {variant} | {mean:.1f} ± {sd:.1f} | "
                     f"{mean / statistics.mean(seq['seconds']):.2f}× | {statistics.mean(accs):.2f} ± {statistics.pstdev(accs):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
