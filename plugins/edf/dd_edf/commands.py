"""``dd edf ...``: train expert trajectories ahead of a run, list presets."""

from __future__ import annotations

import click


@click.group("edf")
def edf_group():
    """EDF trajectory matching: experts and presets."""


@edf_group.command("experts")
@click.option("--dataset", default="digits", help="NAME or NAME:PATH (see `dd datasets`).")
@click.option("--model", default="convnet", help="Expert architecture, e.g. convnet-d3 or convnet-d5.")
@click.option("--num-experts", "--num", "num", type=int, default=5, help="Number of experts (--num-experts under torchrun, which takes --num for its own --numa-binding).")
@click.option("--epochs", type=int, default=20, help="Epochs per expert (≥ max_start_epoch + expert_epochs of your runs).")
@click.option("--lr", type=float, default=0.01, help="Expert SGD learning rate (lr_teacher).")
@click.option("--batch", type=int, default=256, help="Expert minibatch size.")
@click.option("--sam-rho", type=float, default=0.0, help="Sharpness-aware training radius; 0 = plain SGD (MTT).")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", help="bf16: forward passes under autocast (GPU).")
@click.option("--batched/--one-by-one", default=None, help="Train experts together (vmap); default: together on a GPU only.")
@click.option("--compile", "compile_", is_flag=True, help="Run each expert's network through torch.compile.")
@click.option("--channels-last", is_flag=True, help="Store networks and batches channels-last (one after another; helps bf16 on GPUs).")
@click.option("--seed", type=int, default=0, help="The run seed the experts are keyed by (dd run --seed).")
@click.option("--device", default="auto")
@click.option("--cache-dir", default=None)
@click.option("--download", is_flag=True, help="Allow the dataset to download (cifar10/100).")
@click.option("--preset", default=None, help="Train the experts this EDF preset's runs use (its dataset and expert options, GSAM and DSA "
              "included); options given here win, as -o does in dd run.")
def experts_cmd(dataset, model, num, epochs, lr, batch, sam_rho, precision, batched, compile_, channels_last, seed, device, cache_dir, download,
                preset):
    """Train (or find in the cache) expert trajectories; interrupted training resumes per expert."""
    from ddcore import Cache, check_model_name, distributed_context, open_dataset, pick_device

    from .experts import ExpertSettings, load_or_train_experts

    settings = ExpertSettings(model=model, epochs=epochs, lr=lr, batch_size=batch, sam_rho=sam_rho, precision=precision)
    if preset:
        settings, num, dataset = preset_experts(preset, click.get_current_context())
    check_model_name(settings.model)
    d = distributed_context(device)  # under torchrun expert i trains on rank i mod W
    with d.main_first():
        data = open_dataset(dataset, cache_dir, download)
    # progress through the `ddcore.edf` logger: the CLI prefixes another rank's lines with its rank
    trajs = load_or_train_experts(Cache(cache_dir), data, settings, num, seed, pick_device(device), batched=batched, compile=compile_,
                                  channels_last=channels_last, dist=d)
    if d.is_main:
        click.echo(f"{len(trajs)} experts × {trajs[0].shape[0] - 1} epochs × {trajs[0].shape[1]} parameters ready for {dataset}")


def preset_experts(name: str, ctx: click.Context):
    """The experts (settings, how many, dataset) that runs with preset ``name`` match against, with the
    options given on the command line instead of the preset's."""
    from dataclasses import replace

    from click.core import ParameterSource

    from .matching import expert_settings
    from .options import EdfOptions, read_preset

    try:
        preset = read_preset(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--preset'") from None
    opts = EdfOptions(preset=name)  # (every shipped preset is valid: tests/edf/test_presets.py)
    given = {k: v for k, v in ctx.params.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    fields = {"model": "model", "epochs": "epochs", "lr": "lr", "batch": "batch_size", "sam_rho": "sam_rho", "precision": "precision"}
    settings = replace(expert_settings(opts), **{field: given[param] for param, field in fields.items() if param in given})
    return settings, given.get("num", opts.num_experts), given.get("dataset", preset.get("dataset", "digits"))


@edf_group.command("presets")
def presets_cmd():
    """Shipped presets (dataset × IPC) and the options each sets."""
    from .options import preset_names, read_preset

    for name in preset_names():
        p = read_preset(name)
        values = " ".join(f"{k}={v}" for k, v in p.get("edf", {}).items())
        click.echo(f"{name:24s} {p.get('dataset', '?')} IPC {p.get('ipc', '?')}: {p.get('description', '')}")
        click.echo(f"{'':24s} {values}")
