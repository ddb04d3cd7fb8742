"""How long the evaluation protocol takes: K fresh networks on a distilled set of digits.

    python bench/eval_speed.py                     # K = 1 and 5, IPC 10, 300 epochs, 3 repeats
    python bench/eval_speed.py --ipc 50 --epochs 1000 --nets 5 --repeats 2

Protocol: the set is a random real subset of `digits` (IPC per class); `dd eval`'s protocol
(ConvNet-D3 w128 instance norm, SGD, DSA, batch 256) without baselines. Each configuration
runs `--repeats` times; the table prints wall-clock mean ± std and the accuracy it produced.
Networks train one after another (ddcore does not batch the K networks together).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits", choices=["digits", "mnist5k"])
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--nets", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from ddcore.artifact import DistilledSet
    from ddcore.context import pick_device
    from ddcore.builtins.data.embedded import load_digits, load_mnist5k
    from ddcore.builtins.evaluation import EvalOptions
    from ddcore.builtins.evaluation import evaluate, random_subset

    device = pick_device(args.device)
    data = (load_digits if args.dataset == "digits" else load_mnist5k)()
    idx = random_subset(data, [args.ipc] * data.num_classes, torch.Generator().manual_seed(0))
    dset = DistilledSet.from_real(data, images=data.train_images[idx], classes=data.train_labels[idx])
    print(f"# eval_speed: {args.dataset}, IPC {args.ipc} ({len(dset)} images), {args.model}, {args.epochs} epochs, "
          f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}")
    print(f"{'K nets':>6} | {'seconds (mean ± std)':>22} | {'s per net':>9} | accuracy % (mean ± std of K)")
    for k in args.nets:
        times, accs = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            r = evaluate(dset, data, EvalOptions(num_nets=k, epochs=args.epochs, model=args.model), device, baselines=(), quiet=True)
            times.append(time.perf_counter() - t)
            accs.append(f"{r['distilled']['mean']:.2f} ± {r['distilled']['std']:.2f}")
        sd = statistics.stdev(times) if len(times) > 1 else 0.0
        print(f"{k:>6} | {statistics.mean(times):>12.2f} ± {sd:<7.2f} | {statistics.mean(times) / k:>9.2f} | {accs[0]}")


if __name__ == "__main__":
    main()
