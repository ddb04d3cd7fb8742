"""``dd plugins``, ``dd datasets`` and ``dd eval``: what is installed, and evaluating a saved set.

Built-in commands registered through ``register_commands`` like any plugin's; the core's CLI
owns only ``dd run``.
"""

from __future__ import annotations

import json
from typing import Any

from ddcore.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    import click

    from ddcore.logs import configure_cli
    from ddcore.plugins import get_plugin_manager

    @cli.command("plugins")
    @click.option("--options", "show_options", is_flag=True, help="Also list each stage's options with defaults.")
    def plugins_cmd(show_options: bool) -> None:
        """Loaded plugins as JSON: version, hooks, registered components; broken ones with their error."""
        pm = get_plugin_manager()
        out: dict = {"plugins": pm.plugins_json(), "warnings": pm.warnings}
        if show_options:
            from ddcore.options import options_help

            out["options"] = {name: options_help(reg.value) for name, reg in pm.registry.options.items()}
            out["options"].update({f"eval ({name})": options_help(reg.value.options)
                                   for name, reg in pm.registry.evaluator.items() if reg.value.options is not None})
        click.echo(json.dumps(out, indent=2))

    @cli.command("datasets")
    def datasets_cmd() -> None:
        """The datasets known (built-in and from plugins), how to point each at disk, and the ?transforms."""
        pm = get_plugin_manager()
        for title, table in (("", pm.registry.datasets), ("?", pm.registry.dataset_transforms)):
            for name, reg in sorted(table.items()):
                builtin = pm.records[reg.plugin].builtin if reg.plugin in pm.records else False
                click.echo(f"{title + name:14s} {reg.value.help}{'' if builtin else f'  [plugin {reg.plugin}]'}")

    @cli.command("eval")
    @click.argument("path", type=click.Path())
    @click.option("-o", "--option", "options", multiple=True, metavar="eval.KEY=VALUE", help="Protocol option, e.g. -o eval.num_nets=5.")
    @click.option("--evaluator", default=None, help="Evaluation protocol (default: the run's, else fresh_nets).")
    @click.option("--baseline", "baselines", multiple=True, type=click.Choice(["random", "full", "none"]), help="Baselines (default: random).")
    @click.option("--dataset", default=None, help="Evaluate against this dataset instead of the one in the artifact.")
    @click.option("--device", default="auto", help="auto, cpu or cuda[:N].")
    @click.option("--cache-dir", default=None, help="Where decoded datasets are cached.")
    @click.option("--models", default=None, metavar="A,B,...",
                  help="Evaluate with each of these architectures (eval.model) in turn, then print one cross-architecture table.")
    @click.option("-q", "--quiet", is_flag=True)
    @click.option("-v", "--verbose", is_flag=True)
    def eval_cmd(path, options, evaluator, baselines, dataset, device, cache_dir, models, quiet, verbose) -> None:
        """Train K fresh nets on a distilled set; report mean ± std beside a random real subset."""
        configure_cli(True, verbose)  # the result is this command's output: stdout, not log lines
        names = [m for m in (models or "").split(",") if m] or [None]
        results = []
        for model in names:
            chosen = list(options) + ([f"eval.model={model}"] if model else [])
            results.append(evaluate_artifact(path, get_plugin_manager(), options=chosen, baselines=baselines, dataset=dataset, device=device,
                                             cache_dir=cache_dir, quiet=quiet, evaluator=evaluator, show=click.echo))  # shown before written
        if models:
            click.echo(cross_architecture_table(names, results))


def cross_architecture_table(models: list[str], results: list[dict[str, Any]]) -> str:
    """One row per evaluation architecture: the set's accuracy beside the random-real baseline's."""
    def cell(r: dict | None) -> str:
        return f"{r['mean']:.2f} ± {r['std']:.2f}" if r else "–"

    lines = ["| eval.model | distilled % | random real % |", "|---|---|---|"]
    lines += [f"| {m} | {cell(r.get('distilled'))} | {cell(r.get('random'))} |" for m, r in zip(models, results)]
    return "\n".join(lines)


def evaluate_artifact(path, pm, options=(), baselines=(), dataset=None, device="auto", cache_dir=None,
                      quiet=False, evaluator: str | None = None, show=None) -> dict[str, Any]:
    """``dd eval``: evaluate the artifact at ``path``, ``show`` the summary, then write ``eval-KEY.json``
    beside it (KEY names the protocol: the run's own ``eval.json`` stays); in a run folder its log
    lines go to the run's ``log.txt`` too."""
    from ddcore.artifact import DistilledSet, resolve_artifact_path
    from ddcore.cache import Cache
    from ddcore.distributed import distributed_context
    from ddcore.errors import ConfigError
    from ddcore.logs import run_log
    from ddcore.options import parse_assignments
    from ddcore.planning import DEFAULT_EVALUATOR, EVAL_OPTIONS, evaluator_named, resolve_options
    from ddcore.plugins import using
    from ddcore.realdata import load_real_data
    from ddcore.run import evaluate_set

    artifact = resolve_artifact_path(path, must_exist=True)
    dset = DistilledSet.load(artifact)
    chosen = evaluator_named(evaluator or dset.facts.get("evaluator") or DEFAULT_EVALUATOR, pm.registry)
    models = {EVAL_OPTIONS: chosen.options} if chosen.options is not None else {}
    protocol = resolve_options(parse_assignments(options), models, [EVAL_OPTIONS], pm.registry).get(EVAL_OPTIONS)
    ds = dataset or dset.facts.get("dataset")
    if not ds:
        raise ConfigError(f"{artifact} does not say which dataset it was made from; pass --dataset.")
    dist = distributed_context(device)
    with using(pm), dist.main_first():
        data = load_real_data(ds, pm.registry, Cache(cache_dir))
    if list(data.class_names) != list(dset.class_names) or tuple(data.image_shape) != tuple(dset.images.shape[1:]):
        raise ConfigError(f"{artifact} was made for other classes or image sizes than dataset {ds!r}; pass the matching --dataset.")
    with run_log(artifact.parent if dist.is_main and (artifact.parent / "run.json").is_file() else None):  # rank 0 writes log.txt
        return evaluate_set(dset, artifact, data, pm, chosen, protocol, baselines or ["random"], device, cache_dir, quiet, show,
                            own=False)
