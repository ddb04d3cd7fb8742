"""The ``dd`` command line. Heavy libraries are imported inside commands so ``--help`` is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import DDError, PluginError


class DDGroup(click.Group):
    """Turns DDError into one line on stderr and a non-zero exit status, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DDError as exc:
            click.echo(f"dd: error: {exc}", err=True)
            sys.exit(exc.exit_code)


def _pm():
    from .plugins import get_plugin_manager

    return get_plugin_manager()


@click.group(cls=DDGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ddcore", prog_name="dd")
def cli() -> None:
    """ddcore: dataset distillation as a pipeline of plugins.

    \b
    dd run --dataset digits --ipc 10 --plugins real --out runs/r1
    dd eval runs/r1
    dd show runs/r1
    """


@cli.command("plugins")
@click.option("--options", "show_options", is_flag=True, help="Also list each stage's options with defaults.")
def plugins_cmd(show_options: bool) -> None:
    """Loaded plugins as JSON: version, hooks, registered components; broken ones with their error."""
    pm = _pm()
    out = pm.plugins_json()
    if show_options:
        from .options import options_help

        try:
            opts = {name: options_help(reg.value) for name, reg in pm.registry.options.items()}
        except DDError:
            opts = {}
        out = {"plugins": out, "options": opts}
    click.echo(json.dumps(out, indent=2))


@cli.command("datasets")
def datasets_cmd() -> None:
    """The datasets known (built-in and from plugins) and how to point each at disk."""
    for name, reg in sorted(_pm().registry.datasets.items()):
        spec = reg.value
        where = "" if reg.plugin.startswith("ddcore.") else f"  [plugin {reg.plugin}]"
        click.echo(f"{name:14s} {spec.help}{where}")


@cli.command("run")
@click.option("--dataset", default=None, help="NAME or NAME:PATH (see `dd datasets`). Default: digits.")
@click.option("--ipc", type=int, default=None, help="Images per class to keep. Default: 10.")
@click.option("--plugins", "plugins", default=None, help="Comma-separated stages in order, e.g. edf,clip_select. Default: real.")
@click.option("--pool-factor", type=int, default=None, help="Pool per class = pool_factor × ipc when a selection stage follows. Default: 5.")
@click.option("-o", "--option", "options", multiple=True, metavar="STAGE.KEY=VALUE", help="Set a stage option (repeatable).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="Run file (TOML or YAML): run settings plus one table per stage.")
@click.option("--preset", default=None, help="A stage preset (e.g. `dd edf presets`): sets STAGE.preset for every stage that takes one.")
@click.option("--out", default=None, help="Run folder to create. Default: runs/<dataset>-ipc<N>-<plugins>.")
@click.option("--seed", type=int, default=None, help="One seed for the whole run. Default: 0.")
@click.option("--device", default=None, help="auto (GPU when present), cpu or cuda[:N].")
@click.option("--cache-dir", default=None, help="Cache for trained experts/detectors/generators and decoded datasets.")
@click.option("--download", is_flag=True, default=None, help="Allow datasets that support it (cifar10/100) to download.")
@click.option("--eval/--no-eval", "evaluate", default=None, help="Evaluate the result with the protocol (default: yes).")
@click.option("--baseline", "baselines", multiple=True, type=click.Choice(["random", "full", "none"]), help="Baselines for the evaluation (default: random).")
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False), help="Continue the interrupted run in this folder.")
@click.option("--reuse-from", "reuse_from", multiple=True, metavar="RUN",
              help="An earlier run folder whose identical leading stages are copied, not computed again (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option("--dry-run", is_flag=True, help="Print the resolved stages and options, run nothing.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines.")
def run_cmd(dataset, ipc, plugins, pool_factor, options, config_path, preset, out, seed, device, cache_dir, download,
            evaluate, baselines, resume_dir, reuse_from, overwrite, dry_run, quiet) -> None:
    """Run the stages named in --plugins, write the distilled set, then evaluate it."""
    from .reuse import check_reuse_sources
    from .run import build_spec, run

    check_reuse_sources(reuse_from, resume_dir is not None)

    spec = build_spec(
        dataset=dataset, ipc=ipc, plugins=plugins, pool_factor=pool_factor, options=options, config_path=config_path,
        out=out, seed=seed, device=device, cache_dir=cache_dir, download=download, evaluate=evaluate,
        baselines=baselines, resume_dir=resume_dir, preset=preset,
    )
    run(spec, _pm(), resume=resume_dir is not None, overwrite=overwrite, dry_run=dry_run, quiet=quiet, reuse_from=reuse_from)


@cli.command("eval")
@click.argument("path", type=click.Path())
@click.option("-o", "--option", "options", multiple=True, metavar="eval.KEY=VALUE", help="Protocol option, e.g. -o eval.num_nets=5.")
@click.option("--baseline", "baselines", multiple=True, type=click.Choice(["random", "full", "none"]), help="Baselines (default: random).")
@click.option("--dataset", default=None, help="Evaluate against this dataset instead of the one in the artifact.")
@click.option("--device", default="auto", help="auto, cpu or cuda[:N].")
@click.option("--cache-dir", default=None, help="Where decoded datasets are cached.")
@click.option("-q", "--quiet", is_flag=True)
def eval_cmd(path, options, baselines, dataset, device, cache_dir, quiet) -> None:
    """Train K fresh nets on a distilled set; report mean ± std beside a random real subset."""
    from .run import evaluate_artifact

    evaluate_artifact(path, _pm(), options=options, baselines=baselines, dataset=dataset, device=device, cache_dir=cache_dir, quiet=quiet)


@cli.command("show")
@click.argument("path", type=click.Path())
@click.option("--out", default=None, help="Folder for the PNGs (default: PATH/show).")
@click.option("--imagefolder", default=None, help="Also export every image as PNG into an ImageFolder tree here.")
@click.option("--scale", type=int, default=None, help="Upscale factor for small images (default: to about 64 px).")
def show_cmd(path, out, imagefolder, scale) -> None:
    """Write a PNG grid per class (and optionally an ImageFolder of PNGs)."""
    from .artifact import DistilledSet, resolve_artifact_path
    from .export import export_imagefolder, write_grids

    from .run import for_display

    artifact = resolve_artifact_path(path, must_exist=True)
    dset = for_display(DistilledSet.load(artifact), _pm())
    target = Path(out) if out else artifact.parent / "show"
    paths = write_grids(dset, target, scale=scale)
    click.echo(f"wrote {len(paths)} PNGs to {target} (overview: {paths[0]})")
    if imagefolder:
        n = export_imagefolder(dset, Path(imagefolder))
        click.echo(f"exported {n} images to {imagefolder}")


@cli.command("report")
@click.argument("run_dir", type=click.Path())
def report_cmd(run_dir) -> None:
    """One HTML page about a run: images per class, what each stage did, evaluation, loss curves, manifest."""
    from .report import build_report

    page = build_report(run_dir, _pm())
    click.echo(f"wrote {page} (open it in a browser; its PNGs are beside it)")


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
def compare_cmd(runs) -> None:
    """One table of evaluation results across run folders (mean ± std, IPC, stages), for ablations."""
    from .compare import compare_table

    click.echo(compare_table(list(runs)))


@cli.command("new-plugin")
@click.argument("name")
@click.option("--dir", "parent", default=".", type=click.Path(file_okay=False), help="Where to create dd-NAME/ (default: here).")
def new_plugin_cmd(name, parent) -> None:
    """Write a plugin package skeleton dd-NAME/ that installs and passes its own tests."""
    from .scaffold import create_plugin

    folder = create_plugin(name, Path(parent))
    click.echo(f"wrote {folder}: pip install -e {folder} && pytest {folder / 'tests'}; then edit {folder / ('dd_' + name)}/__init__.py")


def _add_plugin_commands(group: click.Group) -> None:
    from .plugins import get_plugin_manager

    pm = get_plugin_manager()
    for impl in pm.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:  # a broken plugin must not break the CLI
            if isinstance(exc, PluginError):
                raise
            click.echo(f"dd: warning: plugin {impl.plugin_name!r} failed to add commands: {exc}", err=True)


def main() -> None:
    """The ``dd`` entry point: plugins add their sub-commands, then the command runs.

    An error while loading plugins (``DD_STRICT_PLUGINS=1``) is one line, like any other.
    """
    try:
        _add_plugin_commands(cli)
    except DDError as exc:
        click.echo(f"dd: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    cli(prog_name="dd")
