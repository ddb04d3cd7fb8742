"""How long EDF's expert trajectories take to train: one after another, or together (``edf.experts_batched``).

    python bench/experts_speed.py                       # digits (4 epochs) and mnist5k (1 epoch), 4 experts, CPU
    python bench/experts_speed.py --device cuda         # -> bench/results/experts_speed-cuda.json

Protocol: the presets' expert recipe (ConvNet as ``edf.expert_model`` defaults, SGD lr 0.05 without
momentum, batch 128, DSA every batch), seeds as a run with ``--seed 0`` draws them; nothing cached
(each variant trains from scratch). The JSON keeps every time and the largest difference between
the two variants' final parameters (they must agree to float rounding).
"""

from __future__ import annotations

import argparse
import statistics
import time

EPOCHS = {"digits": 4, "mnist5k": 1}  # enough epochs to time; the ratio is what matters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(EPOCHS), choices=list(EPOCHS))
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    from _common import environment, save_result  # bench/ is the script's folder

    import torch
    from dd_edf.experts import ExpertSettings, train_experts

    from ddcore import derive_seed, open_dataset, pick_device

    device = pick_device(args.device)
    rows = []
    for name in args.datasets:
        data = open_dataset(name)
        settings = ExpertSettings(model="convnet", epochs=EPOCHS[name], lr=0.05, batch_size=128)
        seeds = [derive_seed(0, "expert", i) for i in range(args.experts)]
        finals = {}
        for together in (False, True):
            times = []
            for _ in range(args.repeats):
                tick = time.perf_counter()
                trajs = train_experts(data, settings, seeds, device, "experts", True, batched=together)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - tick)
            finals[together] = [t[-1] for t in trajs]
            rows.append({"dataset": name, "epochs": EPOCHS[name], "together": together, "seconds": times})
            print(f"{name} together={together}: {statistics.mean(times):.1f} s", flush=True)
        rows[-1]["max_parameter_difference"] = max(float((a - b).abs().max()) for a, b in zip(finals[False], finals[True]))
    result = {
        "bench": "experts_speed", **environment(device),
        "protocol": {"experts": args.experts, "model": "convnet", "lr": 0.05, "batch": 128, "repeats": args.repeats,
                     "seeds": "derive_seed(0, 'expert', i)", "epochs": {n: EPOCHS[n] for n in args.datasets}},
        "rows": rows,
    }
    out = save_result("experts_speed", result, device)
    print(f"# experts_speed: {result['device']} ({result['device_name']}), {result['threads']} threads -> {out}")
    print(table(result))


def table(result: dict) -> str:
    """The README table, generated from the JSON."""
    p = result["protocol"]
    lines = [f"| dataset | {p['experts']} experts trained | seconds (mean ± std of {p['repeats']}) | vs one after another | "
             "largest parameter difference |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        mean = statistics.mean(r["seconds"])
        sd = statistics.stdev(r["seconds"]) if len(r["seconds"]) > 1 else 0.0
        alone = next(x for x in result["rows"] if x["dataset"] == r["dataset"] and not x["together"])
        diff = f"{r['max_parameter_difference']:.1e}" if "max_parameter_difference" in r else ""
        epochs = f"{r['epochs']} epoch" + ("s" if r["epochs"] != 1 else "")
        lines.append(f"| {r['dataset']} ({epochs}) | {'together' if r['together'] else 'one after another'} | "
                     f"{mean:.1f} ± {sd:.1f} | {mean / statistics.mean(alone['seconds']):.2f}× | {diff} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
