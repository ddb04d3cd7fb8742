"""The ``dd`` command line. Heavy libraries are imported inside commands so ``--help`` is instant.

The core owns ``run``; every other command (``plugins``, ``datasets``, ``eval``, ``show``,
``report``, ``compare``, ``new-plugin`` and the plugins' own groups) arrives through the
``register_commands`` hook, built-ins included. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import json
import logging
import sys

import click

from .atomic import disk_full
from .distributed import ENDING_WITH_ERROR, PeerStopped, peer_failed
from .errors import DDError
from .logs import configure_cli, logger_for, rank_prefix


class DDGroup(click.Group):
    """Turns DDError into one line on stderr and a non-zero exit status, never a traceback
    (``-v`` adds the traceback of a plugin's own exception)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (Exception, PeerStopped) as exc:  # under torchrun also: another rank died and took a collective with it
            ENDING_WITH_ERROR.append(exc)
            error = exc if isinstance(exc, DDError) else DDError(str(exc)) if isinstance(exc, PeerStopped) else peer_failed(exc) or disk_full(exc)
            if error is None:
                raise
            if exc.__cause__ is not None:
                logger_for().debug("traceback of the plugin's exception:", exc_info=exc.__cause__)
            click.echo(f"dd: error: {rank_prefix()}{error}", err=True)
            sys.exit(error.exit_code)


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
    if not logging.getLogger("ddcore").handlers:
        configure_cli()


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
@click.option("--eval/--no-eval", "evaluate", default=None, help="Evaluate the result (default: yes).")
@click.option("--evaluator", default=None, help="Evaluation protocol (default: fresh_nets; its options are eval.*).")
@click.option("--baseline", "baselines", multiple=True, type=click.Choice(["random", "full", "none"]), help="Baselines for the evaluation (default: random).")
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False), help="Continue the interrupted run in this folder.")
@click.option("--reuse-from", "reuse_from", multiple=True, metavar="RUN",
              help="An earlier run folder whose identical leading stages are copied, not computed again (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option("--dry-run", is_flag=True, help="Print the resolved stages and options, run nothing.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or log lines (warnings and errors only).")
@click.option("-v", "--verbose", is_flag=True, help="Debug lines too, and the traceback of a plugin's exception.")
def run_cmd(dataset, ipc, plugins, pool_factor, options, config_path, preset, out, seed, device, cache_dir, download,
            evaluate, evaluator, baselines, resume_dir, reuse_from, overwrite, dry_run, quiet, verbose) -> None:
    """Run the stages named in --plugins, write the distilled set, then evaluate it."""
    from .reuse import check_reuse_sources
    from .run import build_spec, run

    configure_cli(quiet, verbose)
    check_reuse_sources(reuse_from, resume_dir is not None)
    spec = build_spec(
        dataset=dataset, ipc=ipc, plugins=plugins, pool_factor=pool_factor, options=options, config_path=config_path,
        out=out, seed=seed, device=device, cache_dir=cache_dir, download=download, evaluate=evaluate, evaluator=evaluator,
        baselines=baselines, resume_dir=resume_dir, preset=preset,
    )
    summary = run(spec, _pm(), resume=resume_dir is not None, overwrite=overwrite, dry_run=dry_run, quiet=quiet, reuse_from=reuse_from)
    if dry_run:
        click.echo(json.dumps(summary, indent=2))


def add_plugin_commands(group: click.Group) -> None:
    """Every loaded plugin's ``register_commands``, one plugin at a time; a broken one is a warning."""
    from .plugins import get_plugin_manager, strict

    pm = get_plugin_manager()
    for name in list(pm.records):
        if pm.records[name].error is not None:
            continue
        try:
            pm.subset_caller("register_commands", [name])(cli=group)
        except Exception as exc:  # a broken plugin must not break the CLI
            if strict():
                raise DDError(f"plugin {name!r} failed to add commands: {exc} (DD_STRICT_PLUGINS is set)") from exc
            logger_for().warning("dd: warning: plugin %r failed to add commands: %s", name, exc)


def main() -> None:
    """The ``dd`` entry point: plugins add their sub-commands, then the command runs.

    An error while loading plugins (``DD_STRICT_PLUGINS=1``) is one line, like any other.
    """
    configure_cli()
    try:
        add_plugin_commands(cli)
    except DDError as exc:
        click.echo(f"dd: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    cli(prog_name="dd")
