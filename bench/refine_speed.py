"""detector_refine speed: candidates per second of the small generator.

    python bench/refine_speed.py                          # digits (8×8) and mnist5k (28×28), defaults
    python bench/refine_speed.py --datasets mnist5k --batches 16 64 --repeats 5

The generator is the plugin's own small latent diffusion model (``tiny_ldm.build_parts`` with the
default settings, saved as a diffusers img2img folder and loaded through ``generator.load_tiny``,
the path a run takes), with random weights: its speed does not depend on them, so no training is
needed. Each row times ``DiffusionGenerator.img2img`` on one batch of candidates (prototype
latents of real images, a seed per candidate) at the plugin's defaults — strength σ = 0.7, N = 50
scheduler steps (⌊σN⌋ = 35 run), guidance w = 1 (one UNet pass per step) and w = 8 (classifier-free
guidance: two) — mean ± std over --repeats calls after one warm-up. Writes ``bench/results/refine_speed.json``
(``-cuda`` on a GPU) with every call's time; ``python bench/tables.py`` renders the plugin README's table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from _common import Results, mean_std


def generator_for(dataset: str, folder: Path, device: torch.device):
    from dd_detector_refine.generator import load_tiny
    from dd_detector_refine.tiny_ldm import TinyLdmSettings, TrainedParts, build_parts

    from ddcore.realdata import open_dataset

    data = open_dataset(dataset)
    c, h, _ = data.image_shape
    settings = TinyLdmSettings()
    torch.manual_seed(0)
    vae, unet, tokens = build_parts(c, h, data.num_classes, settings)
    TrainedParts(vae, unet, tokens, settings, list(data.class_names)).save(folder)
    return data, load_tiny(folder, data, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--batches", nargs="+", type=int, default=[64], help="candidates per img2img call (the plugin's batch_size is 64)")
    ap.add_argument("--guidances", nargs="+", type=float, default=[1.0, 8.0])
    ap.add_argument("--strength", type=float, default=0.7)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"# refine_speed: small generator (default settings, random weights); σ = {args.strength}, N = {args.steps} "
          f"(⌊σN⌋ = {int(args.strength * args.steps)} steps run); mean ± std of {args.repeats} calls after a warm-up; device {name}\n")
    results = Results("refine_speed", device, strength=args.strength, steps=args.steps, repeats=args.repeats, warm_up="one call",
                      generator="the default TinyLdmSettings, random weights (torch seed 0)")
    print(table({"rows": []}))
    for dataset in args.datasets:
        with tempfile.TemporaryDirectory() as tmp:
            data, gen = generator_for(dataset, Path(tmp) / "generator", device)
            for batch in args.batches:
                idx = torch.arange(batch) % len(data.train_images)
                latents = gen.encode(data.denormalize(data.train_images[idx]))
                classes = data.train_labels[idx]
                for w in args.guidances:
                    def call():
                        gen.img2img(latents, classes, list(range(batch)), args.strength, w, args.steps)

                    call()
                    times = []
                    for _ in range(args.repeats):
                        start = time.perf_counter()
                        call()
                        times.append(time.perf_counter() - start)
                    row = results.add(dataset=dataset, image=list(data.image_shape), latent=list(latents.shape[1:]), guidance=w, batch=batch,
                                      seconds=times)
                    print(table({"rows": [row]}).splitlines()[-1], flush=True)


def table(result: dict) -> str:
    """The plugin README's speed table, from the JSON."""
    lines = ["| dataset | image | latent | guidance w | batch | seconds per batch | candidates / s |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['dataset']} | {'×'.join(map(str, r['image']))} | {tuple(r['latent'])} | {r['guidance']:g} | {r['batch']} | "
                     f"{mean_std(r['seconds'], 3)} | {r['batch'] / statistics.mean(r['seconds']):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
