"""Peak memory of loading a large image folder: pixels kept as uint8 versus float32 storage.

    python bench/data_memory.py                        # 100 classes × 300 train PNGs (+ 20 val), 64 px, RGB
    python bench/data_memory.py --classes 20 --per-class 100

The bench writes its own folder of random PNGs (``imagefolder`` layout) in a temporary directory,
then loads it in fresh processes with ``ddcore.open_dataset("imagefolder:DIR")``: once decoding
the PNGs (which also writes the decoded uint8 cache), once from that cache, and once from the cache
followed by reading ``data.train_images`` (the whole float32 split, what every dataset held before
pixels stayed uint8). Memory is the process's peak RSS minus its RSS just before the load (after
the imports the loader needs and torch's first operation, which cost the same for any data).
Writes ``bench/results/data_memory.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "data_memory.json"


def write_folder(root: Path, classes: int, per_class: int, val: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", val)):
        for c in range(classes):
            folder = root / split / f"class{c:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def load(folder: str, cache: str, materialize: bool) -> dict:
    """Runs in a child process."""
    import torch
    from _common import rss_bytes

    from ddcore import get_plugin_manager, open_dataset
    from ddcore.builtins.data import imagefolder, split  # noqa: F401  (their imports: PIL, safetensors, sklearn)

    get_plugin_manager().registry
    split.channel_stats(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))  # torch's first-op buffers are not the data's
    before = rss_bytes()
    tick = time.perf_counter()
    data = open_dataset(f"imagefolder:{folder}", cache_dir=cache)
    if materialize:
        data.train_images
    seconds = time.perf_counter() - tick
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n, (c, h, w) = len(data.train_labels), data.image_shape
    return {"images": n, "shape": [c, h, w], "seconds": seconds, "peak_bytes": peak - before,
            "uint8_bytes": n * c * h * w, "float32_bytes": n * c * h * w * 4, "streamed": data.streamed()}


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--val", type=int, default=20, help="validation images per class")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(load(args.child[0], args.child[1], args.child[2] == "float")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp) / "folder", Path(tmp) / "cache"
        tick = time.perf_counter()
        write_folder(folder, args.classes, args.per_class, args.val, args.size)
        print(f"wrote {args.classes * (args.per_class + args.val)} PNGs in {time.perf_counter() - tick:.0f} s", flush=True)
        rows = [{"load": "decode the PNGs (uint8 kept)", **child(str(folder), str(cache), "uint8")},
                {"load": "from the decoded cache (uint8 kept)", **child(str(folder), str(cache), "uint8")},
                {"load": "from the cache, then the float32 split read", **child(str(folder), str(cache), "float")}]
    from _common import environment  # bench/ is the script's folder

    result = {"bench": "data_memory", **environment("cpu"),
              "protocol": {"classes": args.classes, "train_per_class": args.per_class, "val_per_class": args.val, "size": args.size,
                           "images": "random RGB PNGs, numpy seed 0", "memory": "peak RSS minus RSS before the load (libraries imported, torch warmed up), one process per row"},
              "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"# data_memory -> {RESULTS}")
    print(table(result))


def table(result: dict) -> str:
    """The README table, generated from the JSON."""
    first = result["rows"][0]
    lines = [f"{first['images']} train images {'×'.join(map(str, first['shape']))}: uint8 {first['uint8_bytes'] / 2**20:.0f} MiB, "
             f"float32 {first['float32_bytes'] / 2**20:.0f} MiB.", "",
             "| load | peak memory (MiB) | float32 storage / peak | seconds |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['load']} | {r['peak_bytes'] / 2**20:.0f} | {r['float32_bytes'] / r['peak_bytes']:.1f}× | {r['seconds']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
