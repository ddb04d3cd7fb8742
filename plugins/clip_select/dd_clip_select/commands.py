"""``dd clip_select ...``: fit the small CLIP model ahead of a run; explain what a run kept."""

from __future__ import annotations

import click


@click.group("clip_select")
def clip_select_group():
    """CLIP semantic sampling: the fitted encoder and run explanations."""


@clip_select_group.command("fit")
@click.option("--dataset", default="digits", help="NAME or NAME:PATH (see `dd datasets`).")
@click.option("--epochs", type=int, default=None, help="Training epochs (option fit_epochs).")
@click.option("--templates", default=None, help="default, openai or a template file (option templates).")
@click.option("--seed", type=int, default=0, help="The run seed the model is keyed by (dd run --seed).")
@click.option("--device", default="auto")
@click.option("--cache-dir", default=None)
@click.option("--download", is_flag=True, help="Allow the dataset to download (cifar10/100).")
def fit_cmd(dataset, epochs, templates, seed, device, cache_dir, download):
    """Train (or find in the cache) the small open_clip model runs use when no CLIP weights are given.

    Contrastive training with open_clip's ClipLoss on the real training images against captions
    from the templates and class names. The defaults equal the run options' defaults, so a later
    `dd run --plugins clip_select` on the same dataset and seed finds it.
    """
    from ddcore import Cache, open_dataset, pick_device

    from .fit import FitSettings, fit_clip
    from .options import ClipSelectOptions
    from .text import templates_for

    given = {"fit_epochs": epochs, "templates": templates}
    try:
        opts = ClipSelectOptions(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise click.BadParameter(str(exc).splitlines()[-1]) from None
    data = open_dataset(dataset, cache_dir, download)
    folder = fit_clip(Cache(cache_dir), data, FitSettings(epochs=opts.fit_epochs), templates_for(opts.templates), seed,
                      pick_device(device), log=lambda m: click.echo(m, err=True))
    click.echo(f"CLIP model for {dataset} ready: {folder} (use it elsewhere with -o clip_select.model=local-dir:{folder})")


@clip_select_group.command("explain")
@click.argument("run_dir", type=click.Path())
def explain_cmd(run_dir):
    """Per class: the scores of the kept and rejected images, as a table, a CSV and a PNG."""
    from ddcore import get_plugin_manager

    from .explain import build_explanation, format_explanation

    click.echo(format_explanation(build_explanation(run_dir, get_plugin_manager())))
