"""What the bench scripts share: running `dd`, evaluating a set with `dd eval`, naming the device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def dd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ddcore", *args], check=True, stdout=subprocess.DEVNULL)


def evaluate(path: Path, dataset: str, nets: int, epochs: int, baseline: bool = True, options: tuple[str, ...] = ()) -> dict:
    """`dd eval` on a run folder or a set file; returns the result file it wrote (``eval-KEY.json``).

    The random-real baseline depends only on the dataset, IPC and protocol (same seeds), so a
    bench that evaluates many sets of one IPC computes it once and passes ``baseline=False`` after.
    ``options`` are more ``eval.KEY=VALUE`` settings (``eval.model=convnet-pad3``: cross-architecture).
    """
    out = subprocess.run([sys.executable, "-m", "ddcore", "eval", str(path), "--dataset", dataset, "-q", "-o", f"eval.num_nets={nets}",
                          "-o", f"eval.epochs={epochs}", *[a for o in options for a in ("-o", o)],
                          *([] if baseline else ["--baseline", "none"])],
                         check=True, capture_output=True, text=True).stdout
    written = [line.removeprefix("wrote ") for line in out.splitlines() if line.startswith("wrote ")]
    if not written:  # a ddcore from before dd eval named its result file: eval.json beside the set
        written = [str((path if path.is_dir() else path.parent) / ("eval.json" if path.is_dir() else f"{path.stem}.eval.json"))]
    return json.loads(Path(written[-1]).read_text())


def rss_bytes() -> int:
    """This process's resident memory now (Linux)."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def auto_device() -> str:
    """Where the quality benches' `dd` runs compute (`--device auto`): the kind their results file is named by."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name() -> str:
    """What `--device auto` picks here, for the protocol line (GPU and CPU numbers are not bit-identical)."""
    import torch

    return f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cpu"


def environment(device) -> dict:
    """Where a speed or memory bench ran: device, threads, the CPU's instruction set (AVX2, AVX512: CPU numbers
    differ in the last bits between them), torch, allocator settings, git commit."""
    import os
    import platform

    import torch

    from ddcore.builtins.training import cpu_numerics

    device = torch.device(device)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return {"device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
            **cpu_numerics(), "torch": torch.__version__, "git_commit": commit.stdout.strip() or None,
            "allocator_env": {k: os.environ.get(k) for k in ("MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_")}}


def result_path(name: str, device) -> Path:
    """``bench/results/NAME.json``, or ``NAME-cuda.json`` for a GPU run."""
    import torch

    kind = torch.device(device).type
    return Path(__file__).resolve().parent / "results" / (f"{name}.json" if kind == "cpu" else f"{name}-{kind}.json")


def save_result(name: str, result: dict, device) -> Path:
    """Write ``result`` to ``result_path(name, device)``; returns the path."""
    out = result_path(name, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


class Results:
    """One bench's JSON: where it ran, its protocol, and its rows, saved after every row.

    Saving as it goes keeps what an interrupted bench (a timeout on a lent GPU, say) finished;
    ``bench/tables.py`` renders README tables from this file with the bench's ``table()``.
    """

    def __init__(self, name: str, device, seed: int | None = None, append: bool = False, identity: tuple[str, ...] = (),
                 **protocol) -> None:
        self.name, self.device, self.identity = name, device, identity
        self.data = {"bench": name, **environment(device), **({} if seed is None else {"seed": seed}), "protocol": protocol, "rows": []}
        earlier = result_path(name, device)
        if append and earlier.is_file():  # more rows for a file an earlier run of the same protocol began
            old = json.loads(earlier.read_text())
            if old.get("protocol") != protocol or old.get("seed") != self.data.get("seed"):
                raise SystemExit(f"--append: {earlier} was measured with another protocol or seed; write elsewhere or drop --append")
            self.data["rows"] = [{"git_commit": old.get("git_commit"), **r} for r in old["rows"]]

    def add(self, **row) -> dict:
        """Append ``row`` (stamped with the commit); with ``identity``, an earlier row with the same values there is replaced."""
        row = {**row, "git_commit": self.data["git_commit"]}  # each row says which code made it (--append mixes runs)
        if self.identity:
            self.data["rows"] = [r for r in self.data["rows"] if any(r.get(k) != row.get(k) for k in self.identity)]
        self.data["rows"].append(row)
        self.save()
        return row

    def save(self) -> None:
        """Write the file as it stands (after a row is added or an earlier row extended)."""
        self.path = save_result(self.name, self.data, self.device)


def parallel_arguments(ap, jobs: int = 1, threads: int | None = None) -> None:
    """--jobs and --threads, for the benches that run their rows with ``in_parallel`` and ``run_env``."""
    ap.add_argument("--jobs", type=int, default=jobs, help="runs at a time")
    ap.add_argument("--threads", type=int, default=threads, help="threads of each run (OMP_NUM_THREADS; unset: the environment's)")


PRESETS = {"tuned": "{dataset}-ipc{ipc}", "paper": "{dataset}-paper-ipc{ipc}"}  # EDF's preset kinds: ours, and the official code's run


def run_env(threads: int | None) -> dict:
    """The environment of a `dd` subprocess with ``threads`` threads (unset: this one's)."""
    import os

    return {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}


def run_evaluated(out: Path, args, *run_args: str, baseline: bool = True) -> dict:
    """`dd run RUN_ARGS` into ``out`` (replaced) with the bench's seed, protocol (--nets, --epochs) and
    --threads; returns the run's ``eval.json`` with ``wall_seconds`` (distillation and evaluation).
    Without ``baseline`` the random-real baseline (the same for every set of a dataset and IPC) is skipped."""
    import time

    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ddcore", "run", *run_args, "--out", str(out), "--overwrite", "-q", "--seed", str(args.seed),
                    "-o", f"eval.num_nets={args.nets}", "-o", f"eval.epochs={args.epochs}", *([] if baseline else ["--baseline", "none"])],
                   check=True, stdout=subprocess.DEVNULL, env=run_env(getattr(args, "threads", None)))
    result = json.loads((out / "eval.json").read_text())
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def cross_architecture(folder: Path, dataset: str, args, model: str, baseline: bool) -> dict:
    """The set in ``folder`` evaluated on ``model`` with the bench's protocol otherwise (and, with
    ``baseline``, the random-real baseline on that network): ``{model: {distilled, random}}``."""
    r = evaluate(folder, dataset, args.nets, args.epochs, baseline=baseline, options=(f"eval.model={model}",))
    return {model: {"distilled": r["distilled"], "random": r.get("random")}}


def in_parallel(jobs: int, tasks: list, work) -> None:
    """``work(task)`` for every task, ``jobs`` at a time (each task is a `dd` subprocess: threads only wait);
    the first failure is raised once the running ones end."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for done in [pool.submit(work, t) for t in tasks]:
            done.result()


def mean_std(values: list[float], digits: int = 2) -> str:
    """``mean ± std`` (population std, as the evaluation protocol reports it)."""
    import statistics

    if not values:
        return "–"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values) if len(values) > 1 else 0.0:.{digits}f}"


def protocol_arguments(ap, out: str) -> None:
    """The options every quality bench shares: the evaluation protocol, the seed, where runs go, extra `dd run` arguments."""
    import argparse

    ap.add_argument("--nets", type=int, default=5, help="evaluation networks K")
    ap.add_argument("--epochs", type=int, default=300, help="training epochs of each evaluation network")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=out)
    ap.add_argument("--reuse-from", nargs="+", default=[], metavar="DIR",
                    help="run folders of another bench's --out, made by this same code, whose identical leading stages may be reused")
    ap.add_argument("--append", action="store_true",
                    help="add rows to this bench's result file (same protocol and seed) instead of starting it again")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                    help="more `dd run` arguments for every run, e.g. -o STAGE.KEY=VALUE (a run gets only its own stages' options)")


def options_of(extra: list[str]) -> list[str]:
    """The STAGE.KEY=VALUE assignments of --extra (benches that reuse stages take only -o options there)."""
    if len(extra) % 2 or any(flag not in ("-o", "--option") for flag in extra[::2]):
        raise SystemExit(f"--extra takes only `-o STAGE.KEY=VALUE` pairs here, got: {' '.join(extra)}")
    return list(extra[1::2])


class RunSharing:
    """`dd run --reuse-from` every run this bench already made (and those under --reuse-from).

    Several rows of a bench start with the very same stage (EDF distilling the same pool with
    the same preset and seed, say); `dd run --reuse-from` copies such identical leading stages
    instead of computing them again, and the set equals a fresh run's (ddcore/reuse.py).
    """

    def __init__(self, reuse_from: list[str] = ()) -> None:
        self.reuse_from = [Path(d) for d in reuse_from]
        self.finished: list[Path] = []

    def _candidates(self) -> list[Path]:
        """This bench's finished runs, then those under --reuse-from (looked up each time: another bench may still be adding)."""
        found = [p.parent for d in self.reuse_from for p in sorted(d.glob("*/run.json")) if (p.parent / "manifest.json").is_file()]
        return self.finished + [p for p in found if p not in self.finished]

    def run(self, out: Path, *, plugins: str, dataset: str, ipc: int, seed: int, pool_factor: int = 5, preset: str | None = None,
            options: list[str] = (), evaluate: bool = True, baseline: bool = True) -> int:
        """Make the run folder `out` (replacing it); returns how many leading stages were reused."""
        sources = [str(c) for c in self._candidates() if c.resolve() != out.resolve()]
        stages = {*plugins.split(","), "real", "eval"}
        options = [o for o in options if o.split(".", 1)[0] in stages]  # each row takes the options of its own stages
        dd("run", "--dataset", dataset, "--ipc", str(ipc), "--plugins", plugins, "--pool-factor", str(pool_factor), "--seed", str(seed),
           *(["--preset", preset] if preset else []), *[a for o in options for a in ("-o", o)],
           *([] if evaluate else ["--no-eval"]), *([] if baseline else ["--baseline", "none"]),
           *[a for s in sources for a in ("--reuse-from", s)], "--out", str(out), "--overwrite", "-q")
        self.finished.append(out)
        record = out / "reused.json"
        return len(json.loads(record.read_text())["stages"]) if record.is_file() else 0

