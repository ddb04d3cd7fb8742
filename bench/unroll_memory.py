"""Peak memory and seconds per outer iteration of EDF's three unroll modes, and TESLA's gradient error.

    python bench/unroll_memory.py                          # mnist5k, IPC 10, syn_steps 10 20 40 80, CPU
    python bench/unroll_memory.py --steps 10 20 --iterations 2
    python bench/unroll_memory.py --device cuda                                 # -> unroll_memory-cuda.json
    python bench/unroll_memory.py --device cuda --ipc 50 --batch 500 --steps 80 --modes full checkpoint \
        --error-steps --name unroll_memory-cuda-ipc50                           # the paper-scale row

Setting: the mnist5k-ipc10 preset's network (ConvNet-D3 width 64) and minibatch (batch_syn 50),
100 synthetic images (10 real ones per class), soft labels, DSA, step size α = 0.05; the expert
segment is a ConvNet trained 1 epoch (start) and 3 epochs (target) on the real data. One outer
iteration = the unroll, the normalised matching loss and its backward to images, labels and α.
Every (mode, steps) runs in its own process: peak memory is that process's maximum resident set
size (CPU) or ``torch.cuda.max_memory_allocated`` (GPU), minus what it held before the first
iteration; seconds per iteration are the mean of ``--iterations`` after one warm-up.
TESLA's error: ‖∇_X tesla − ∇_X full‖ / ‖∇_X full‖ (and the same for α) at the presets' step
sizes (0.01: CIFAR/ImageNet presets; 0.05: digits/mnist5k), same draws. Writes
``bench/results/unroll_memory.json`` (``unroll_memory-cuda.json`` on a GPU, or ``--name``) and prints
a table. A mode that runs out of GPU memory is recorded as such, not dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "unroll_memory.json"
MODEL, ALPHA = "convnet-w64", 0.05
IPC, BATCH = int(os.environ.get("UNROLL_BENCH_IPC", 10)), int(os.environ.get("UNROLL_BENCH_BATCH", 50))  # set by --ipc/--batch


def problem(device, segment: Path):
    """(flat model, images, soft labels, α, start θ, target θ) on ``device``."""
    import torch
    from dd_edf.flat import FlatModel
    from safetensors.torch import load_file

    from ddcore import build_model, open_dataset

    data = open_dataset("mnist5k")
    torch.manual_seed(0)
    net = build_model(MODEL, 1, 10, (28, 28)).to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    picks = torch.cat([data.class_indices(c)[:IPC] for c in range(10)])
    x = data.train_images[picks].clone().to(device).requires_grad_(True)
    y = (torch.nn.functional.one_hot(data.train_labels[picks], 10).float() * 3).to(device).requires_grad_(True)
    alpha = torch.tensor(ALPHA, device=device, requires_grad=True)
    seg = load_file(str(segment))
    return FlatModel(net), x, y, alpha, seg["start"].to(device), seg["target"].to(device)


def iteration(fm, x, y, alpha, start, target, steps: int, mode: str, seed: int):
    import torch
    from dd_edf.unroll import unroll

    g = torch.Generator().manual_seed(seed)
    theta = unroll(fm, start.clone().requires_grad_(True), x, y, alpha, steps, BATCH, g, True, mode)
    loss = ((theta - target) ** 2).sum() / ((start - target) ** 2).sum()
    return torch.autograd.grad(loss, [x, alpha])


def one(mode: str, steps: int, iterations: int, device_name: str, segment: Path) -> dict:
    """Runs in a child process: one mode at one number of steps."""
    import torch
    from _common import rss_bytes

    device = torch.device(device_name)
    fm, x, y, alpha, start, target = problem(device, segment)
    before = torch.cuda.memory_allocated(device) if device.type == "cuda" else rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    secs = []
    for i in range(iterations + 1):
        tick = time.perf_counter()
        try:
            iteration(fm, x, y, alpha, start, target, steps, mode, seed=i)
        except torch.cuda.OutOfMemoryError:
            total = torch.cuda.get_device_properties(device).total_memory
            return {"mode": mode, "steps": steps, "seconds": [], "peak_bytes": None, "before_bytes": before,
                    "out_of_memory": f"needed more than the GPU's {total / 2**30:.0f} GiB"}
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        secs.append(time.perf_counter() - tick)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"mode": mode, "steps": steps, "seconds": secs[1:], "peak_bytes": peak - before, "before_bytes": before}


def tesla_error(steps: int, alpha: float, device_name: str, segment: Path) -> dict:
    import torch

    fm, x, y, a, start, target = problem(torch.device(device_name), segment)
    with torch.no_grad():
        a.fill_(alpha)
    full = iteration(fm, x, y, a, start, target, steps, "full", seed=0)
    tesla = iteration(fm, x, y, a, start, target, steps, "tesla", seed=0)
    rel = [float((t - f).norm() / f.norm()) for t, f in zip(tesla, full)]
    cos = float(torch.nn.functional.cosine_similarity(tesla[0].flatten(), full[0].flatten(), dim=0))
    return {"steps": steps, "alpha": alpha, "images_rel_error": rel[0], "step_size_rel_error": rel[1], "images_cosine": cos}


def expert_segment(path: Path, device_name: str) -> None:
    """A ConvNet's parameters after 1 and 3 epochs on mnist5k (the matching start and target)."""
    import torch
    from dd_edf.flat import flatten_parameters
    from safetensors.torch import save_file

    from ddcore import TrainSettings, build_model, open_dataset, train_classifier

    data = open_dataset("mnist5k")
    torch.manual_seed(0)
    net = build_model(MODEL, 1, 10, (28, 28))
    g = torch.Generator().manual_seed(0)
    device = torch.device(device_name)
    train_classifier(net, data.train_images, data.train_labels, TrainSettings(epochs=1, decay_at_half=False), g, device)
    start = flatten_parameters(net).cpu()
    train_classifier(net, data.train_images, data.train_labels, TrainSettings(epochs=2, decay_at_half=False), g, device)
    save_file({"start": start, "target": flatten_parameters(net).cpu()}, str(path))


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--modes", nargs="+", default=["full", "checkpoint", "tesla"])
    ap.add_argument("--iterations", type=int, default=2, help="timed iterations after one warm-up")
    ap.add_argument("--error-steps", type=int, nargs="*", default=[10, 20, 40], help="none: skip the TESLA error rows")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ipc", type=int, default=IPC, help="synthetic images per class")
    ap.add_argument("--batch", type=int, default=BATCH, help="batch_syn: images per inner step")
    ap.add_argument("--name", default=None, help="results/NAME.json (default unroll_memory, or unroll_memory-cuda on a GPU)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ["UNROLL_BENCH_IPC"], os.environ["UNROLL_BENCH_BATCH"] = str(args.ipc), str(args.batch)  # for the children
    if args.child:
        kind, *rest = args.child
        result = one(rest[0], int(rest[1]), int(rest[2]), rest[3], Path(rest[4])) if kind == "one" else \
            tesla_error(int(rest[0]), float(rest[1]), rest[2], Path(rest[3]))
        print(json.dumps(result))
        return
    import torch

    from _common import environment  # bench/ is the script's folder

    threads = torch.get_num_threads()
    device = args.device
    dev_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or platform.machine()
    with tempfile.TemporaryDirectory() as tmp:
        segment = Path(tmp) / "segment.safetensors"
        expert_segment(segment, device)
        rows = [child(["--child", "one", m, str(s), str(args.iterations), device, str(segment)]) for s in args.steps for m in args.modes]
        errors = [child(["--child", "error", str(s), str(a), device, str(segment)]) for s in args.error_steps for a in (0.01, 0.05)]
    result = {
        "bench": "unroll_memory", **environment(device),
        "protocol": {"dataset": "mnist5k", "ipc": args.ipc, "model": MODEL, "batch_syn": args.batch, "step_size": ALPHA, "labels": "soft",
                     "dsa": True, "iterations_timed": args.iterations, "warmup": 1, "seeds": "draws seeded 0..iterations",
                     "peak": "max RSS (CPU) or max CUDA allocated, minus the process's memory before the first iteration"},
        "rows": rows, "tesla_error": errors,
    }
    out = RESULTS.with_name(f"{args.name}.json") if args.name else \
        RESULTS if device == "cpu" else RESULTS.with_name(f"unroll_memory-{torch.device(device).type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"# unroll_memory: {device} ({dev_name}), {threads} threads, torch {torch.__version__} -> {out}")
    print(table(result))


def table(result: dict) -> str:
    """The README table, generated from the JSON."""
    lines = ["| syn_steps | mode | peak memory (GiB) | s / iteration |", "|---|---|---|---|"]
    for r in result["rows"]:
        if r.get("out_of_memory"):
            lines.append(f"| {r['steps']} | {r['mode']} | out of memory: {r['out_of_memory']} | |")
            continue
        secs = r["seconds"]
        sd = statistics.stdev(secs) if len(secs) > 1 else 0.0
        lines.append(f"| {r['steps']} | {r['mode']} | {r['peak_bytes'] / 2**30:.2f} | {statistics.mean(secs):.2f} ± {sd:.2f} |")
    if not result["tesla_error"]:
        return "\n".join(lines)
    lines += ["", "| syn_steps | α | TESLA ∇X relative error | cosine(∇X) | ∇α relative error |", "|---|---|---|---|---|"]
    for e in result["tesla_error"]:
        lines.append(f"| {e['steps']} | {e['alpha']} | {e['images_rel_error']:.3f} | {e['images_cosine']:.3f} | {e['step_size_rel_error']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
