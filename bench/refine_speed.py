"""detector_refine speed: candidates per second of the small generator.

    python bench/refine_speed.py                          # digits (8×8) and mnist5k (28×28), defaults
    python bench/refine_speed.py --datasets mnist5k --batches 16 64 --repeats 5

The generator is the plugin's own small latent diffusion model (``tiny_ldm.build_parts`` with the
default settings, saved as a diffusers img2img folder and loaded through ``generator.load_tiny``,
the path a run takes), with random weights: its speed does not depend on them, so no training is
needed. Each row times ``DiffusionGenerator.img2img`` on one batch of candidates (prototype
latents of real images, a seed per candidate) at the plugin's defaults — strength σ = 0.7, N = 50
scheduler steps (⌊σN⌋ = 35 run), guidance w = 1 (one UNet pass per step) and w = 8 (classifier-free
guidance: two) — mean ± std over --repeats calls after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


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
    print("| dataset | image | latent | guidance w | batch | seconds per batch | candidates / s |")
    print("|---|---|---|---|---|---|---|")
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
                    mean, std = statistics.mean(times), statistics.pstdev(times)
                    c, h, wd = data.image_shape
                    print(f"| {dataset} | {c}×{h}×{wd} | {tuple(latents.shape[1:])} | {w:g} | {batch} | {mean:.3f} ± {std:.3f} | "
                          f"{batch / mean:.0f} |", flush=True)


if __name__ == "__main__":
    main()
