"""``dd report RUN``: one self-contained HTML page (and the PNGs it shows) about a finished run.

Sections: the distilled images per class; every stage with what it did to the pool (a
refinement: each replaced image beside its replacement; a selection: the images it kept and how
many it left out; a scorer: the columns it added); the evaluation table with the random
baseline and the protocol; loss curves of optimisation-based stages (every series a stage
recorded with ``ctx.record``, drawn with matplotlib); the manifest. Written to ``RUN/report/``.

The page reads only the run folder's files (manifest, stage files, metrics, eval.json), so it
works for any plugin's stages; a stage's plugin may write its own section through the
``report_stage`` hook (``None`` keeps the built-in one). A built-in plugin: ``dd report``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ddcore.components import StageReport
from ddcore.errors import DataError
from ddcore.hookspecs import hookimpl


def build_report(run_dir: str | Path, pm=None) -> Path:
    """Write ``RUN/report/index.html`` and its PNGs; returns the page's path."""
    from ddcore.artifact import DistilledSet
    from ddcore.atomic import atomic_path
    from ddcore.plugins import get_plugin_manager
    from ddcore.stage_files import read_manifest

    from .finished_runs import for_display
    from .images import removed_on_failure, write_grids

    pm = pm or get_plugin_manager()
    run = Path(run_dir).expanduser()
    if not (run / "manifest.json").is_file() or not (run / "distilled.safetensors").is_file():
        raise DataError(f"{run} holds no finished run (manifest.json and distilled.safetensors); give a folder made by `dd run`.")
    manifest = read_manifest(run)
    final = DistilledSet.load(run / "distilled.safetensors")
    check_against_manifest(run, final, manifest)  # before anything is written
    with removed_on_failure(run / "report") as out:
        def show(dset: DistilledSet) -> DistilledSet:
            return for_display(dset, pm)

        final = show(final)
        overview = write_grids(final, out / "distilled")[0]
        sections = [_section("Distilled images", f"<p>{len(final)} images, per class {final.per_class_counts()}, "
                                                 f"{'soft' if final.soft_labels is not None else 'hard'} labels.</p>"
                                                 + _img(overview, out, "the distilled images, one row per class"))]
        sections.append(_section("Stages", _stages(run, manifest, out, show, pm)))
        sections.append(_section("Evaluation", _evaluation(run)))
        sections.append(_section("Loss curves", _curves(run, manifest, out)))
        sections.append(_section("Manifest", f"<pre>{html.escape(json.dumps(manifest, indent=2))}</pre>"))
        title = f"ddcore run {run.name}: {manifest.get('dataset')}, IPC {manifest.get('ipc')}, {' → '.join(manifest.get('plugins', []))}"
        page = out / "index.html"
        with atomic_path(page) as tmp:
            tmp.write_text(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head>"
                           f"<body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n")
    return page


STYLE = ("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
         "img{image-rendering:pixelated;max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}</style>")


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def _img(path: Path, base: Path, alt: str) -> str:
    return f"<p><img src='{path.relative_to(base).as_posix()}' alt='{html.escape(alt)}'></p>"


def check_against_manifest(run: Path, dset, manifest: dict) -> None:
    """The artifact must be the set its manifest.json describes (a copied or half-replaced run folder is not)."""
    from ddcore.errors import DataError

    said = (manifest.get("images"), manifest.get("per_class"))
    found = (list(dset.images.shape), dict(zip(dset.class_names, dset.per_class_counts())))
    if said != found:
        raise DataError(f"{run}'s distilled.safetensors ({found[0]}) is not the set its manifest.json describes ({said[0]}, "
                        f"per class {said[1]}); one of them was replaced; rerun the run or restore the pair.")


def _stages(run: Path, manifest: dict, out: Path, show, pm) -> str:
    from ddcore.artifact import DistilledSet
    from ddcore.stage_files import stage_file

    parts, previous = [], None
    for s in manifest.get("stages", []):
        path = stage_file(run, s["index"], s["stage"])
        if not path.is_file():
            parts.append(f"<h3>{s['index']}. {html.escape(s['stage'])}</h3><p>stage file missing.</p>")
            continue
        current = show(DistilledSet.load(path))
        kind = s.get("mode") or s["kind"]
        head = (f"<h3>{s['index']}. {html.escape(s['stage'])} ({kind}{', implicit' if s.get('implicit') else ''})</h3>"
                f"<p>plugin {html.escape(str(s.get('plugin')))}; {len(current)} images, {s.get('per_class')} per class.</p>")
        answers = pm.call_in_order("report_stage", [s.get("plugin")], stage=StageReport(s, previous, current, out, run))
        body = answers[0] if answers else _builtin_section(s, kind, previous, current, out)
        parts.append(head + body)
        previous = current
    return "\n".join(parts)


def _builtin_section(s: dict, kind: str, previous, current, out: Path) -> str:
    """What every stage gets unless its plugin writes its own section."""
    from .images import write_grids

    if previous is not None and kind == "refine":
        return _replaced(previous, current, out / f"stage-{s['index']:02d}-replaced.png", out)
    if previous is not None and kind == "select":
        return _kept(previous, current, out / f"stage-{s['index']:02d}-kept.png", out)
    if previous is not None and kind == "scorer":
        added = sorted(set(current.columns) - set(previous.columns))
        return f"<p>added columns: {', '.join(html.escape(c) for c in added) or 'none'}.</p>"
    if kind == "synthesizer":
        return _img(write_grids(current, out / f"stage-{s['index']:02d}", max_per_class=20)[0], out, "the pool this stage made")
    return ""


def _replaced(before, after, path: Path, base: Path) -> str:
    import torch

    from .images import save_before_after

    changed = torch.nonzero((before.images - after.images).flatten(1).abs().amax(1) > 0).flatten()
    if len(changed) == 0:
        return "<p>no image was replaced.</p>"
    save_before_after(before, after, changed, path, header="each pair: before | after")
    return f"<p>{len(changed)} images replaced (each before | after):</p>" + _img(path, base, "replaced images, before and after")


def _kept(pool, kept, path: Path, base: Path) -> str:
    from .images import write_grids

    flat = pool.images.flatten(1)
    found = sum(int(((flat - row).abs().amax(1) == 0).any()) for row in kept.images.flatten(1))
    grid_path = write_grids(kept, path.with_suffix(""), max_per_class=20)[0]
    return (f"<p>kept {len(kept)} of {len(pool)} images ({found} found unchanged in the pool it received); "
            f"per class {kept.per_class_counts()} of {pool.per_class_counts()}:</p>" + _img(grid_path, base, "the kept images"))


def _evaluation(run: Path) -> str:
    from .finished_runs import evaluation_file

    path = evaluation_file(run)
    if path is None:
        return "<p>not evaluated: run <code>dd eval RUN</code>.</p>"
    try:
        e = json.loads(path.read_text())
    except ValueError:
        return f"<p>{path.name} is damaged: evaluate again with <code>dd eval {html.escape(str(run))}</code>.</p>"
    if "protocol" not in e:  # another evaluator's result: show it as it is
        return f"<pre>{html.escape(json.dumps(e, indent=2))}</pre>"
    rows = [("distilled", e["distilled"])] + [(f"{b} ({'real' if b == 'random' else 'data'})", e[b]) for b in ("random", "full") if b in e]
    table = "<table><tr><th>set</th><th>accuracy % (mean ± std)</th><th>images</th><th>per net</th></tr>" + "".join(
        f"<tr><td>{name}</td><td>{r['mean']:.2f} ± {r['std']:.2f}</td><td>{r.get('images', '')}</td>"
        f"<td>{', '.join(f'{a:.2f}' for a in r.get('accuracies', []))}</td></tr>" for name, r in rows) + "</table>"
    p = e["protocol"]
    protocol = (f"<p>protocol: {p['num_nets']} × {html.escape(str(p['model']))}, {p['epochs']} epochs, lr {p.get('lr_used')} "
                f"({html.escape(str(p.get('lr_source')))}), DSA {html.escape(str(p.get('dsa_strategy')))}; {html.escape(str(p.get('metric')))}; "
                f"{html.escape(str(p.get('test_split')))}; device {html.escape(str(p.get('device')))}; from {html.escape(path.name)}.</p>")
    return table + protocol


def _curves(run: Path, manifest: dict, out: Path) -> str:
    files = sorted((run / "metrics").glob("*.jsonl")) if (run / "metrics").is_dir() else []
    if not files:
        return "<p>no stage recorded curves (only optimisation-based stages do).</p>"
    import matplotlib
    import torch

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = []
    for f in files:
        series: dict[str, list[tuple[int, float]]] = {}
        for line in f.read_text().splitlines():
            try:
                point: dict[str, Any] = json.loads(line)
                series.setdefault(point["name"], []).append((point["step"], point["value"]))
            except (ValueError, KeyError, TypeError):  # a line cut by a kill (resuming cuts it off): leave it out
                continue
        names = sorted(series)
        if not names:
            continue
        fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), squeeze=False)
        for ax, name in zip(axes[0], names):
            steps, values = zip(*series[name])
            window = max(1, len(values) // 25)
            ax.plot(steps, values, lw=0.8, alpha=0.35 if window > 1 else 1.0)
            if window > 1:  # noisy per-iteration values (random start epochs): a running mean shows the trend
                smooth = torch.tensor(values, dtype=torch.float64).unfold(0, window, 1).mean(1).tolist()
                ax.plot(steps[window - 1:], smooth, lw=1.4)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("iteration", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.tight_layout()
        png = out / f"curves-{f.stem}.png"
        fig.savefig(png, dpi=90)
        plt.close(fig)
        parts.append(f"<h3>{html.escape(f.stem)}</h3>" + _img(png, out, f"curves of {f.stem}"))
    return "\n".join(parts)


@hookimpl
def register_commands(cli):
    import click

    @cli.command("report")
    @click.argument("run_dir", type=click.Path())
    def report_cmd(run_dir) -> None:
        """One HTML page about a run: images per class, what each stage did, evaluation, loss curves, manifest."""
        page = build_report(run_dir)
        click.echo(f"wrote {page} (open it in a browser; its PNGs are beside it)")
