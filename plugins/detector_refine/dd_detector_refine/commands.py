"""``dd detector_refine ...``: fit the small generator ahead of a run; report what a run refined."""

from __future__ import annotations

import click


@click.group("detector_refine")
def detector_refine_group():
    """Detector-guided refinement: the small diffusion generator and run reports."""


@detector_refine_group.command("train-generator")
@click.option("--dataset", default="digits", help="NAME or NAME:PATH (see `dd datasets`).")
@click.option("--width", type=int, default=None, help="Channels of the first block (option gen_width).")
@click.option("--vae-epochs", type=int, default=None, help="Autoencoder epochs (option gen_vae_epochs).")
@click.option("--unet-epochs", type=int, default=None, help="Denoiser epochs (option gen_unet_epochs).")
@click.option("--seed", type=int, default=0, help="The run seed the generator is keyed by (dd run --seed).")
@click.option("--device", default="auto")
@click.option("--cache-dir", default=None)
@click.option("--download", is_flag=True, help="Allow the dataset to download (cifar10/100).")
def train_generator_cmd(dataset, width, vae_epochs, unet_epochs, seed, device, cache_dir, download):
    """Fit (or find in the cache) the small latent diffusion model runs use when no weights are given.

    Interrupted training resumes from its last epoch. The defaults equal the run options' defaults,
    so a later `dd run --plugins detector_refine` on the same dataset and seed finds it.
    """
    from ddcore import Cache, open_dataset, pick_device

    from .options import DetectorRefineOptions
    from .tiny_ldm import train_tiny_ldm

    given = {"gen_width": width, "gen_vae_epochs": vae_epochs, "gen_unet_epochs": unet_epochs}
    try:
        opts = DetectorRefineOptions(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise click.BadParameter(str(exc).splitlines()[-1]) from None
    data = open_dataset(dataset, cache_dir, download)
    folder = train_tiny_ldm(Cache(cache_dir), data, opts.tiny_settings(), seed, pick_device(device),
                            log=lambda m: click.echo(m, err=True))
    click.echo(f"generator for {dataset} ready: {folder}")


@detector_refine_group.command("report")
@click.argument("run_dir", type=click.Path())
def report_cmd(run_dir):
    """Anomaly rate per class before and after refinement, rounds, and a before|after PNG of replaced images."""
    from ddcore import get_plugin_manager

    from .report import build_report, format_report

    click.echo(format_report(build_report(run_dir, get_plugin_manager())))
