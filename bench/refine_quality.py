"""detector_refine: label consistency and accuracy before and after refinement.

    python bench/refine_quality.py                                   # digits and mnist5k, IPC 10, K = 5
    python bench/refine_quality.py --datasets digits --sweep         # plus the β × top-k sweep
    python bench/refine_quality.py --datasets mnist5k --sweep --sweep-only --betas 0.9   # only the β = 0.9 rows

For each dataset, two `dd run`s (fresh folders under --out):
  * `--plugins detector_refine`: prototype synthesis (the pool after the scoring stage) vs. refined;
  * `--plugins edf,detector_refine --preset <dataset>-ipc<N>`: EDF's set vs. refined.
and with --sweep one `--plugins detector_refine` run per β in --betas (top-k 3) and per top-k in
--top-ks (β = --sweep-beta); the synthesis stage of every sweep run is identical (same seeds).

Every set (before and after refinement) is evaluated with `dd eval`'s protocol: K = --nets ConvNets
(D3; D2 on 8×8), --epochs epochs, DSA, final-epoch test accuracy, mean ± std; "random real" is the
protocol's own baseline. Label consistency = the fraction of synthetic images whose label an
*independent* classifier (--judge, default convnet-w64-bn, trained with another seed than the
detector) predicts. Prints markdown tables and writes ``bench/results/refine_quality.json`` (``-cuda``
on a GPU) row by row; ``python bench/tables.py`` renders the plugin README's tables from it
(``refine_quality:before_after`` and ``refine_quality:sweep``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import Results, RunSharing, auto_device, device_name, evaluate, mean_std, options_of, protocol_arguments


class Judge:
    """The independent classifier: another architecture and seed than the detector, trained on the real data."""

    def __init__(self, dataset: str, model: str, seed: int, epochs: int):
        import torch

        from ddcore.cache import Cache
        from ddcore.builtins.classifier import real_data_classifier
        from ddcore.realdata import open_dataset
        from ddcore.builtins.training import TrainSettings

        self.data = open_dataset(dataset)
        self.net = real_data_classifier(Cache(), self.data, model, TrainSettings(epochs=epochs), seed, torch.device("cpu"),
                                        log=lambda m: None, quiet=True)
        self.description = f"{model}, seed {seed}, {epochs} epochs, {self.net.test_accuracy:.1%} test accuracy"

    def consistency(self, path: Path) -> float:
        import torch

        from ddcore.artifact import DistilledSet

        d = DistilledSet.load(path)
        with torch.no_grad():
            pred = torch.cat([self.net(b).argmax(1) for b in d.images.split(256)])
        return float((pred == d.classes).float().mean())


def refine_run(runs: RunSharing, dataset: str, ipc: int, name: str, plugins: str, options: list[str], args, preset: str | None = None) -> dict:
    out = Path(args.out) / f"{dataset}-ipc{ipc}-{name}"
    started = time.perf_counter()
    runs.run(out, plugins=plugins, dataset=dataset, ipc=ipc, seed=args.seed, preset=preset, options=options, evaluate=False)
    seconds = time.perf_counter() - started
    from ddcore.artifact import DistilledSet
    from ddcore.builtins.finished_runs import stage_io

    final = DistilledSet.load(out)
    before_n = int(final.columns["anomalous_before"].sum())
    after_n = int(final.columns["anomalous"].sum())
    return {"out": out, "seconds": seconds, "before": stage_io(out, "detector_refine", "selector", "")[0], "facts": final.facts["detector_refine"],
            "anomalous": (before_n, after_n, len(final)), "replaced": int((final.columns["replaced"] > 0).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--ipc", type=int, default=10)
    protocol_arguments(ap, "bench-runs/refine")
    ap.add_argument("--judge", default="convnet-w64-bn", help="architecture of the independent classifier")
    ap.add_argument("--judge-seed", type=int, default=1)
    ap.add_argument("--sweep", action="store_true", help="also sweep β and top-k on the prototype-synthesis pipeline")
    ap.add_argument("--betas", nargs="+", type=float, default=[0.5, 0.7, 0.9])
    ap.add_argument("--top-ks", nargs="+", type=int, default=[1, 3, 10])
    ap.add_argument("--sweep-beta", type=float, default=0.9)
    ap.add_argument("--no-edf", action="store_true", help="skip the edf vs edf,detector_refine rows")
    ap.add_argument("--sweep-only", action="store_true", help="only the sweep (with --sweep), not the before/after table")
    ap.add_argument("--edf-options", nargs="*", default=[], metavar="edf.KEY=VALUE", help="options for the EDF runs only")
    args = ap.parse_args()
    print(f"# refine_quality: IPC {args.ipc}; K = {args.nets} nets × {args.epochs} epochs (eval.model convnet: D3, D2 on 8×8; DSA; "
          f"final-epoch accuracy); seed {args.seed}; device {device_name()}; detector_refine defaults{' + ' + ' '.join(args.extra) if args.extra else ''}")
    runs, options = RunSharing(args.reuse_from), options_of(args.extra)
    results = Results("refine_quality", auto_device(), args.seed, append=args.append, ipc=args.ipc, nets=args.nets,
                      epochs=args.epochs, extra=args.extra, edf_options=args.edf_options, judge=f"{args.judge}, seed {args.judge_seed}, 30 epochs",
                      reuse_from=args.reuse_from)
    for dataset in args.datasets:
        judge = Judge(dataset, args.judge, args.judge_seed, 30)
        print(f"\n## {dataset}: independent classifier {judge.description}\n")
        results.data["protocol"].setdefault("judges", {})[dataset] = judge.description
        if not args.sweep_only:
            before_after(runs, judge, dataset, options, args, results)
        if args.sweep:
            sweep(runs, judge, dataset, options, args, results)


def before_after(runs: RunSharing, judge: Judge, dataset: str, options: list[str], args, results: Results) -> None:
    """Prototype synthesis (and EDF) before vs. after refinement."""
    print(table({"rows": []}, "before_after"))
    rows = [("prototype synthesis", "detector_refine", [], None)]
    if not args.no_edf:
        rows.append(("EDF", "edf,detector_refine", args.edf_options, f"{dataset}-ipc{args.ipc}"))
    random_real = None
    for label, plugins, own_options, preset in rows:
        r = refine_run(runs, dataset, args.ipc, plugins.replace(",", "+"), plugins, own_options + options, args, preset)
        acc_before = evaluate(r["before"], dataset, args.nets, args.epochs, baseline=random_real is None)
        acc_after = evaluate(r["out"], dataset, args.nets, args.epochs, baseline=False)
        random_real = acc_before.get("random") or random_real
        b, a, n = r["anomalous"]
        for row in (dict(set=label, distilled=acc_before["distilled"], consistency=judge.consistency(r["before"]), anomalous_before=b, images=n),
                    dict(set=f"{label} + detector_refine", distilled=acc_after["distilled"],
                         consistency=judge.consistency(r["out"] / "distilled.safetensors"), anomalous_before=b, anomalous_after=a, images=n,
                         replaced=r["replaced"], wall_seconds=round(r["seconds"], 1))):
            results.add(table="before_after", dataset=dataset, eval_protocol=acc_before["protocol"], **row)
            print(table({"rows": [results.data["rows"][-1]]}, "before_after").splitlines()[-1], flush=True)
    results.add(table="before_after", dataset=dataset, set="random real (protocol baseline)", distilled=random_real)
    print(table({"rows": [results.data["rows"][-1]]}, "before_after").splitlines()[-1], flush=True)


def sweep(runs: RunSharing, judge: Judge, dataset: str, options: list[str], args, results: Results) -> None:
    """β at top-k 3, then top-k at --sweep-beta, on the prototype-synthesis pipeline."""
    print(f"\n### {dataset}: sweep (prototype synthesis + detector_refine)\n")
    print(table({"rows": []}, "sweep"))
    grid = [(b, 3) for b in args.betas] + [(args.sweep_beta, k) for k in args.top_ks if (args.sweep_beta, k) not in [(b, 3) for b in args.betas]]
    for beta, k in grid:
        r = refine_run(runs, dataset, args.ipc, f"sweep-b{beta}-k{k}", "detector_refine",
                       [f"detector_refine.beta={beta}", f"detector_refine.top_k={k}", *options], args)
        acc = evaluate(r["out"], dataset, args.nets, args.epochs, baseline=False)
        b, a, n = r["anomalous"]
        row = results.add(table="sweep", dataset=dataset, beta=beta, top_k=k, distilled=acc["distilled"], eval_protocol=acc["protocol"],
                          consistency=judge.consistency(r["out"] / "distilled.safetensors"), anomalous_before=b, anomalous_after=a, images=n,
                          replaced=r["replaced"], wall_seconds=round(r["seconds"], 1))
        print(table({"rows": [row]}, "sweep").splitlines()[-1], flush=True)


def table(result: dict, view: str = "before_after") -> str:
    """The plugin README's tables from the JSON: sets before and after refinement, or the β × top-k sweep."""
    def anomalies(r: dict) -> str:
        n = r.get("images")
        if n is None:
            return ""
        return f"{r['anomalous_before']}/{n}" + (f" → {r['anomalous_after']}/{n}" if "anomalous_after" in r else "")

    def common(r: dict) -> str:
        consistency = f"{r['consistency']:.1%}" if "consistency" in r else ""
        return f"{mean_std(r['distilled']['accuracies'])} | {consistency} | {anomalies(r)} | {r.get('replaced', '')}"

    rows = [r for r in result["rows"] if r["table"] == view]
    if view == "sweep":
        lines = ["| dataset | β | top-k | accuracy % (mean ± std) | label consistency (independent) | anomalous before → after | replaced |",
                 "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['dataset']} | {r['beta']:g} | {r['top_k']} | {common(r)} |" for r in rows]
    else:
        lines = ["| dataset | set | accuracy % (mean ± std) | label consistency (independent) | detector-anomalous before → after | replaced |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r['dataset']} | {r['set']} | {common(r)} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
