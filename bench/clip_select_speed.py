"""clip_select speed: scoring + selection time after embedding, and embedding throughput.

    python bench/clip_select_speed.py                       # pools of 1k, 10k, 100k; IPC 10; 10 classes
    python bench/clip_select_speed.py --sizes 10000 --repeats 5

Selection works on embeddings alone, so the pools here are random unit vectors (d = 512, the
width of ViT-B-32's embedding) with 10 balanced classes and random class text embeddings; every
row times the plugin's own functions (``scoring.quality``, the three scores,
``scoring.nearest_neighbour_diversity`` and ``select.select_class`` for each class), mean ± std
over --repeats runs after one warm-up. Embedding throughput is images per second through
``ClipEncoder.images`` for the model ``dd clip_select fit`` trains and for ViT-B-32 (random
weights: the speed does not depend on them) on 8×8 inputs resized by each model's own transform.
Writes ``bench/results/clip_select_speed.json`` with every run's time; ``python bench/tables.py``
renders the plugin README's tables (``clip_select_speed:selection``, ``clip_select_speed:embedding``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from _common import Results, mean_std


def time_it(fn, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def selection_rows(results: Results, sizes: list[int], ipc: int, classes: int, dim: int, repeats: int) -> None:
    from dd_clip_select.options import ClipSelectOptions
    from dd_clip_select.scores import relevance, separability
    from dd_clip_select.scoring import nearest_neighbour_diversity, quality
    from dd_clip_select.select import select_class

    print(f"## selection after embedding (IPC {ipc}, {classes} classes, d = {dim}; mean ± std of {repeats} runs, seconds)\n")
    print(table({"rows": []}, "selection"))
    for n in sizes:
        g = torch.Generator().manual_seed(0)
        v = F.normalize(torch.randn(n, dim, generator=g), dim=1)
        y = torch.arange(n) % classes
        t = F.normalize(torch.randn(classes, dim, generator=g), dim=1)
        columns: dict = {}

        def score():
            r, s = relevance(v, y, t), separability(v, y, t)
            columns.update(clip_quality=quality(r, s, y, 0.5), clip_zero_shot_correct=((v @ t.T).argmax(1) == y).float(),
                           clip_diversity=nearest_neighbour_diversity(v, y))

        scoring = time_it(score, repeats)
        for mode, beta in (("mmr", 2.0), ("facility", 2.0), ("kcenter", 2.0), ("mmr", n / classes / ipc)):
            opts = ClipSelectOptions(mode=mode, beta=max(1.0, beta))

            def select():
                for c in range(classes):
                    idx = torch.nonzero(y == c).flatten()
                    select_class(v[idx], columns, idx, ipc, opts, semantic=True)

            row = results.add(table="selection", pool=n, mode=mode, beta="pool/IPC (stage 2 only)" if beta != 2.0 else "2",
                              scoring_seconds=scoring, selection_seconds=time_it(select, repeats))
            print(table({"rows": [row]}, "selection").splitlines()[-1], flush=True)


def embedding_rows(results: Results, batch: int, images: int) -> None:
    import json

    import open_clip

    from dd_clip_select.encoder import ClipEncoder, quiet_open_clip
    from dd_clip_select.fit import FitSettings

    print(f"\n## embedding throughput ({images} images of 8×8, batch {batch}, CPU threads {torch.get_num_threads()})\n")
    print(table({"rows": []}, "embedding"))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "ddcore-fit-bench.json"
        cfg.write_text(json.dumps(FitSettings().model_cfg()))
        open_clip.add_model_config(cfg)
        for name in ("ddcore-fit-bench", "ViT-B-32"):
            with quiet_open_clip():
                model, _, pre = open_clip.create_model_and_transforms(name)
            enc = ClipEncoder(model.eval(), None, pre, name, name)
            x = torch.rand(images, 1, 8, 8)
            seconds = time_it(lambda: enc.images(x, batch), 1)
            size = enc.prepare(x[:1]).shape[-1]
            row = results.add(table="embedding", model="fitted (dd clip_select fit)" if name.startswith("ddcore") else name, input=size,
                              images=images, batch=batch, seconds=seconds)
            print(table({"rows": [row]}, "embedding").splitlines()[-1], flush=True)


def table(result: dict, view: str = "selection") -> str:
    """The plugin README's tables from the JSON: selection after embedding, or embedding throughput."""
    rows = [r for r in result["rows"] if r["table"] == view]
    if view == "embedding":
        lines = ["| model | input | images / s |", "|---|---|---|"]
        lines += [f"| {r['model']} | {r['input']}×{r['input']} RGB | {r['images'] / statistics.mean(r['seconds']):.0f} |" for r in rows]
    else:
        lines = ["| pool | mode | β | scoring (s) | selection (s) | total (s) |", "|---|---|---|---|---|---|"]
        lines += [f"| {format(r['pool'], ',').replace(',', ' ')} | {r['mode']} | {r['beta']} | {mean_std(r['scoring_seconds'], 3)} | {mean_std(r['selection_seconds'], 3)} | "
                  f"{statistics.mean(r['scoring_seconds']) + statistics.mean(r['selection_seconds']):.3f} |".replace(",", " ") for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 100000])
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--embed-images", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    results = Results("clip_select_speed", "cpu", classes=args.classes, ipc=args.ipc, dim=args.dim, repeats=args.repeats, warm_up="one call",
                      pools="random unit vectors, torch seed 0")
    selection_rows(results, args.sizes, args.ipc, args.classes, args.dim, args.repeats)
    embedding_rows(results, args.batch, args.embed_images)


if __name__ == "__main__":
    main()
