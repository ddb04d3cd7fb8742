"""What the bench scripts share: running `dd`, evaluating a set with `dd eval`, naming the device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def dd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ddcore", *args], check=True, stdout=subprocess.DEVNULL)


def evaluate(path: Path, dataset: str, nets: int, epochs: int, baseline: bool = True) -> dict:
    """`dd eval` on a run folder or a set file; returns its eval.json.

    The random-real baseline depends only on the dataset, IPC and protocol (same seeds), so a
    bench that evaluates many sets of one IPC computes it once and passes ``baseline=False`` after.
    """
    dd("eval", str(path), "--dataset", dataset, "-q", "-o", f"eval.num_nets={nets}", "-o", f"eval.epochs={epochs}",
       *([] if baseline else ["--baseline", "none"]))
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
    ap.add_argument("--reuse-from", nargs="+", default=[], metavar="DIR",
                    help="run folders of another bench's --out, made by this same code, whose identical leading stages may be reused")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `dd run` arguments for every run, e.g. -o STAGE.KEY=VALUE")


def options_of(extra: list[str]) -> list[str]:
    """The STAGE.KEY=VALUE assignments of --extra (benches that reuse stages take only -o options there)."""
    if len(extra) % 2 or any(flag not in ("-o", "--option") for flag in extra[::2]):
        raise SystemExit(f"--extra takes only `-o STAGE.KEY=VALUE` pairs here, got: {' '.join(extra)}")
    return list(extra[1::2])


class RunSharing:
    """`dd run` that reuses the identical leading stages of runs this bench already made.

    Several rows of a bench start with the very same stage (EDF distilling the same pool with
    the same preset and seed, say). Every stage draws its randomness from generators seeded by
    (run seed, stage index, stage name), which is what makes `dd run --resume` exact; so a new
    run folder that holds run.json and a finished run's identical leading stage files, completed
    with `--resume`, is the run `dd run` would make from scratch, without recomputing those
    stages. Two stages count as identical when the dataset, IPC, pool factor, seed, device, the
    stage (index, name, kind, images per class), its plugin's options and the options of every
    active modifier plugin all agree, and so did every stage before it.
    """

    def __init__(self, reuse_from: list[str] = ()) -> None:
        self.reuse_from = [Path(d) for d in reuse_from]
        self.finished: list[Path] = []

    def _candidates(self) -> list[Path]:
        """This bench's finished runs, then those under --reuse-from (looked up each time: another bench may still be adding)."""
        found = [p.parent for d in self.reuse_from for p in sorted(d.glob("*/run.json")) if (p.parent / "manifest.json").is_file()]
        return self.finished + [p for p in found if p not in self.finished]

    @staticmethod
    def _stage_keys(spec) -> list[str]:
        from ddcore.pipeline import plan_run
        from ddcore.plugins import get_plugin_manager

        plan = plan_run(spec, get_plugin_manager())
        dump = {name: model.model_dump(mode="json") for name, model in plan.options.items()}
        common = {k: getattr(spec, k) for k in ("dataset", "ipc", "pool_factor", "seed", "device")}
        common["modifiers"] = {m: dump.get(m) for m in plan.modifiers}
        return [json.dumps({**common, "i": i, "stage": s.name, "kind": s.kind, "per_class": s.per_class, "options": dump.get(s.name)},
                           sort_keys=True, default=str) for i, s in enumerate(plan.stages)]

    def run(self, out: Path, *, plugins: str, dataset: str, ipc: int, seed: int, pool_factor: int = 5, preset: str | None = None,
            options: list[str] = (), evaluate: bool = True, baseline: bool = True) -> int:
        """Make the run folder `out` (replacing it); returns how many leading stages were reused."""
        import shutil

        from ddcore.atomic import write_json
        from ddcore.pipeline import read_run_spec, stage_file
        from ddcore.run import build_spec

        spec = build_spec(dataset=dataset, ipc=ipc, plugins=plugins, pool_factor=pool_factor, options=list(options), out=str(out),
                          seed=seed, preset=preset, evaluate=evaluate, baselines=() if baseline else ("none",))
        keys = self._stage_keys(spec)
        names = [json.loads(k)["stage"] for k in keys]
        best, source = 0, None
        for earlier in [c for c in self._candidates() if c.resolve() != out.resolve()]:
            theirs = self._stage_keys(read_run_spec(earlier))
            n = 0
            while n < min(len(keys), len(theirs)) and keys[n] == theirs[n] and stage_file(earlier, n, names[n]).is_file():
                n += 1
            if n > best:
                best, source = n, earlier
        if out.exists():
            shutil.rmtree(out)
        write_json(out / "run.json", spec.model_dump())  # what `dd run` writes first; --resume with no stage files is a fresh run
        for i in range(best):
            target = stage_file(out, i, names[i])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(stage_file(source, i, names[i]), target)
        dd("run", "--resume", str(out), "-q")
        self.finished.append(out)
        return best

