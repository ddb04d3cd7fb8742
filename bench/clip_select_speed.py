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
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def time_it(fn, repeats: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.mean(times), (statistics.pstdev(times) if len(times) > 1 else 0.0)


def selection_rows(sizes: list[int], ipc: int, classes: int, dim: int, repeats: int) -> None:
    from dd_clip_select.options import ClipSelectOptions
    from dd_clip_select.scores import relevance, separability
    from dd_clip_select.scoring import nearest_neighbour_diversity, quality
    from dd_clip_select.select import select_class

    print(f"## selection after embedding (IPC {ipc}, {classes} classes, d = {dim}; mean ± std of {repeats} runs, seconds)\n")
    print("| pool | mode | β | scoring (s) | selection (s) | total (s) |")
    print("|---|---|---|---|---|---|")
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

        s_mean, s_std = time_it(score, repeats)
        for mode, beta in (("mmr", 2.0), ("facility", 2.0), ("kcenter", 2.0), ("mmr", n / classes / ipc)):
            opts = ClipSelectOptions(mode=mode, beta=max(1.0, beta))

            def select():
                for c in range(classes):
                    idx = torch.nonzero(y == c).flatten()
                    select_class(v[idx], columns, idx, ipc, opts, semantic=True)

            m, sd = time_it(select, repeats)
            label = "pool/IPC (stage 2 only)" if beta != 2.0 else "2"
            print(f"| {n} | {mode} | {label} | {s_mean:.3f} ± {s_std:.3f} | {m:.3f} ± {sd:.3f} | {s_mean + m:.3f} |", flush=True)


def embedding_rows(batch: int, images: int) -> None:
    import json

    import open_clip

    from dd_clip_select.encoder import ClipEncoder, quiet_open_clip
    from dd_clip_select.fit import FitSettings

    print(f"\n## embedding throughput ({images} images of 8×8, batch {batch}, CPU threads {torch.get_num_threads()})\n")
    print("| model | input | images / s |")
    print("|---|---|---|")
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
            mean, _ = time_it(lambda: enc.images(x, batch), 1)
            size = enc.prepare(x[:1]).shape[-1]
            label = "fitted (dd clip_select fit)" if name.startswith("ddcore") else name
            print(f"| {label} | {size}×{size} RGB | {images / mean:.0f} |", flush=True)


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
    selection_rows(args.sizes, args.ipc, args.classes, args.dim, args.repeats)
    embedding_rows(args.batch, args.embed_images)


if __name__ == "__main__":
    main()
