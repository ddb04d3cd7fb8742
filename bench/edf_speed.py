"""Seconds and peak memory per EDF outer iteration, and the time of one DAE refresh.

    python bench/edf_speed.py                       # digits and mnist5k, IPC 10, 12 iterations, both allocators
    python bench/edf_speed.py --datasets digits --iterations 20

Each configuration is a separate `dd run --plugins edf --preset <dataset>-ipc<N> --no-eval` with
`-o edf.iterations=N -o edf.dae_interval=4` (experts and the CAM net come from the cache; run it
once beforehand or the first configuration also trains them, which does not count: only the
engine's per-iteration timings are read, from the run's metrics). The first iteration is
dropped as warm-up. "tuned" sets MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=-1
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=1073741824; "default" unsets them. Peak
memory is the run process's maximum resident set size. Writes ``bench/results/edf_speed.json``
(``-cuda`` on a GPU) with every iteration's time; ``python bench/tables.py`` renders the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import Results, mean_std

TUNED = {"MALLOC_ARENA_MAX": "2", "MALLOC_TRIM_THRESHOLD_": "-1", "MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TOP_PAD_": "1073741824"}


def one(dataset: str, ipc: int, iterations: int, tuned: bool, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in TUNED}
    if tuned:
        env.update(TUNED)
    cmd = [sys.executable, "-c",
           "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)",
           sys.executable, "-m", "ddcore", "run", "--dataset", dataset, "--ipc", str(ipc), "--plugins", "edf",
           "--preset", f"{dataset}-ipc{ipc}", "--no-eval", "-q", "--overwrite", "--out", str(out),
           "-o", f"edf.iterations={iterations}", "-o", "edf.dae_interval=4"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (out / "metrics" / "00-edf.jsonl").read_text().splitlines()]
    secs = [r["value"] for r in rows if r["name"] == "seconds"][1:]
    dae = [r["value"] for r in rows if r["name"] == "dae_refresh_seconds"][1:]
    return {"secs": secs, "dae": dae, "peak_gb": peak_kb / 1024 / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--out", default="bench-runs/edf-speed")
    args = ap.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"# edf_speed: IPC {args.ipc}, {args.iterations} iterations (first dropped), presets <dataset>-ipc{args.ipc}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, device {device}")
    results = Results("edf_speed", device, ipc=args.ipc, iterations=args.iterations, presets=f"<dataset>-ipc{args.ipc}",
                      options="-o edf.iterations=N -o edf.dae_interval=4 --no-eval", warm_up="the first iteration is dropped",
                      cpus=os.cpu_count(), tuned_allocator=TUNED)
    print(table({"rows": []}))
    for dataset in args.datasets:
        for tuned in (True, False):
            r = one(dataset, args.ipc, args.iterations, tuned, Path(args.out) / f"{dataset}-{'tuned' if tuned else 'default'}")
            row = results.add(dataset=dataset, allocator="tuned" if tuned else "default", seconds=r["secs"], dae_refresh_seconds=r["dae"],
                              peak_rss_gb=round(r["peak_gb"], 3))
            print(table({"rows": [row]}).splitlines()[-1], flush=True)


def table(result: dict) -> str:
    """The EDF README's speed table, from the JSON."""
    lines = ["| dataset | allocator | s / outer iteration | s / DAE refresh | peak RSS (GB) |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['dataset']} | {r['allocator']} | {mean_std(r['seconds'], 3)} | {mean_std(r['dae_refresh_seconds'], 3)} | "
                     f"{r['peak_rss_gb']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
