"""Speed-up of 2 processes (torchrun) over 1 for experts, evaluation and trajectory matching.

    python bench/distributed.py                    # CPU: 1 process × 2 threads against 2 processes × 1 thread
    python bench/distributed.py --device cuda --procs 2    # on a machine with 2 GPUs

Each task is one command, timed whole (start-up and data loading included, the same for both):
``dd edf experts`` (4 experts on mnist5k), ``dd eval`` (4 networks on a digits IPC 10 set) and
``dd run --plugins edf`` (digits IPC 10, 20 iterations, cached experts; minibatches split across
the processes, and K = 2 trajectories per iteration split across them). Every command gets its
own fresh cache except the matching rows, which reuse experts trained beforehand (not timed).
On this project's CPU machine the two processes share the same 2 cores that one process uses with
2 threads, so a speed-up says how well the work splits, not what more hardware buys. Writes
``bench/results/distributed.json`` (``distributed-cuda.json`` on GPUs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EDF = ["-o", "edf.num_experts=2", "-o", "edf.iterations=20", "-o", "edf.dae=false"]


def command(procs: int, args: list[str]) -> list[str]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    if procs == 1:
        return [sys.executable, "-m", "ddcore", *args]
    return [torchrun, "--standalone", f"--nproc-per-node={procs}", "-m", "ddcore", *args]


def timed(procs: int, args: list[str], env: dict, threads: int) -> float:
    tick = time.perf_counter()
    out = subprocess.run(command(procs, args), capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": str(threads)})
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} on {procs} process(es) failed:\n{out.stderr[-3000:]}")
    return time.perf_counter() - tick


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="threads of the one-process run (split across the processes)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    from _common import environment, save_result  # bench/ is the script's folder

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "DD_CACHE_DIR": str(tmp / "cache")}
        # a set to evaluate, and cached experts for the matching rows (neither timed)
        subprocess.run(command(1, ["run", "--dataset", "digits", "--ipc", "10", "--plugins", "real", "--no-eval",
                                   "--out", str(tmp / "set"), "--device", args.device]), env=env, check=True, capture_output=True)
        subprocess.run(command(1, ["run", "--dataset", "digits", "--ipc", "10", "--plugins", "edf", *EDF, "-o", "edf.iterations=1",
                                   "--no-eval", "--out", str(tmp / "warm"), "--device", args.device]), env=env, check=True,
                       capture_output=True)
        tasks = {
            "experts (4 × mnist5k, 2 epochs)": lambda run: ["edf", "experts", "--dataset", "mnist5k", "--num-experts", "4", "--epochs", "2",
                                                            "--cache-dir", str(tmp / f"experts-{run}"), "--device", args.device],
            "evaluation (4 nets, digits IPC 10)": lambda run: ["eval", str(tmp / "set"), "-o", "eval.num_nets=4", "-o", "eval.epochs=100",
                                                              "--baseline", "none", "--device", args.device],
            "matching, minibatches split (digits IPC 10)": lambda run: [
                "run", "--dataset", "digits", "--ipc", "10", "--plugins", "edf", *EDF, "--no-eval", "--out", str(tmp / f"m-{run}"),
                "--device", args.device],
            "matching, 2 trajectories per iteration": lambda run: [
                "run", "--dataset", "digits", "--ipc", "10", "--plugins", "edf", *EDF, "-o", "edf.trajectories_per_iteration=2",
                "--no-eval", "--out", str(tmp / f"t-{run}"), "--device", args.device],
        }
        for name, make in tasks.items():
            one = timed(1, make("one"), env, args.threads)
            many = timed(args.procs, make("many"), env, max(1, args.threads // args.procs))
            rows.append({"task": name, "one_process_s": one, "processes_s": many, "speedup": one / many})
            print(f"{name}: 1 process {one:.1f} s, {args.procs} processes {many:.1f} s ({one / many:.2f}×)", flush=True)
    result = {
        "bench": "distributed", **environment(args.device), "cores": os.cpu_count(),
        "protocol": {"processes": args.procs, "threads_one_process": args.threads,
                     "threads_per_process": max(1, args.threads // args.procs), "backend": "nccl" if args.device.startswith("cuda") else "gloo",
                     "timing": "wall clock of the whole command, start-up included", "seed": 0},
        "rows": rows,
    }
    out = save_result("distributed", result, args.device)
    print(f"# distributed: {args.device}, {os.cpu_count()} cores -> {out}")
    print(table(result))


def table(result: dict) -> str:
    """The README table, generated from the JSON."""
    p = result["protocol"]
    lines = [f"| task | 1 process × {p['threads_one_process']} threads (s) | {p['processes']} processes × "
             f"{p['threads_per_process']} thread(s) (s) | speed-up |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['task']} | {r['one_process_s']:.1f} | {r['processes_s']:.1f} | {r['speedup']:.2f}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
