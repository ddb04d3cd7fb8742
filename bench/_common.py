"""What the bench scripts share: running `dd`, evaluating a set with `dd eval`, naming the device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def dd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ddcore", *args], check=True, stdout=subprocess.DEVNULL)


def evaluate(path: Path, dataset: str, nets: int, epochs: int) -> dict:
    """`dd eval` on a run folder or a set file; returns its eval.json."""
    dd("eval", str(path), "--dataset", dataset, "-q", "-o", f"eval.num_nets={nets}", "-o", f"eval.epochs={epochs}")
    name = "eval.json" if path.is_dir() else f"{path.stem}.eval.json"
    return json.loads(((path if path.is_dir() else path.parent) / name).read_text())


def device_name() -> str:
    """What `--device auto` picks here, for the protocol line (GPU and CPU numbers are not bit-identical)."""
    import torch

    return f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cpu"


def protocol_arguments(ap, out: str) -> None:
    """The options every quality bench shares: the evaluation protocol, the seed, where runs go, extra `dd run` arguments."""
    import argparse

    ap.add_argument("--nets", type=int, default=5, help="evaluation networks K")
    ap.add_argument("--epochs", type=int, default=300, help="training epochs of each evaluation network")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=out)
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `dd run` arguments for every run, e.g. -o STAGE.KEY=VALUE")
