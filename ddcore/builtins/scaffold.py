"""``dd new-plugin NAME``: a plugin package skeleton that installs and passes its own tests as written.

The skeleton is the smallest complete plugin: a pyproject with the ``ddcore`` entry point, a
module with a typed options model and one selection component registered through a hook, a
README, and a test that runs it with ``ddcore.testing``. Edit the selector's body to make it
yours (docs/writing-plugins.md walks through the rest).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from ddcore.errors import ConfigError
from ddcore.hookspecs import hookimpl

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "dd-{dash}"
version = "0.1.0"
description = "A ddcore plugin: stage {name}."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["ddcore>=0.1,<0.2"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

[project.entry-points.ddcore]
{name} = "dd_{name}"

[tool.setuptools.packages.find]
include = ["dd_{name}*"]
'''

MODULE = '''"""ddcore plugin, stage name ``{name}``: keeps IPC images per class of the pool it receives."""

from pydantic import Field

from ddcore import Options, Selector, hookimpl


class {cls}Options(Options):
    order: str = Field("first", description="which images to keep: first (pool order) or random")


class {cls}Selector(Selector):
    name = "{name}"
    description = "keeps IPC images per class (replace with your method)"
    mode = "select"

    def select(self, ctx, pool, data, ipc):
        import torch

        opts = ctx.options_for("{name}")
        g = ctx.generator("{name}")
        keep = []
        for c in range(pool.num_classes):
            idx = pool.indices_of_class(c)
            order = torch.randperm(len(idx), generator=g) if opts.order == "random" else torch.arange(len(idx))
            keep.append(idx[order[:ipc]])
        ctx.log(f"kept {{ipc}} per class ({{opts.order}})")
        return pool.subset(torch.cat(keep))


@hookimpl
def register_selectors(register):
    register({cls}Selector())


@hookimpl
def register_options(register):
    register("{name}", {cls}Options)
'''

TEST = '''import pytest

import dd_{name}
from ddcore import ConfigError, testing

MANAGER = testing.make_plugin_manager((dd_{name}, "{name}"))


@pytest.mark.parametrize("order", ["first", "random"])
def test_keeps_ipc_per_class(tmp_path, order):
    d = testing.run_tiny(["{name}"], tmp_path / "run", ipc=2, pool_factor=3, manager=MANAGER, options={{"{name}": {{"order": order}}}})
    testing.assert_artifact(d, ipc=2, num_classes=10, stages=["real", "{name}"])


def test_unknown_option_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        testing.run_tiny(["{name}"], tmp_path / "bad", manager=MANAGER, options={{"{name}": {{"no_such_option": 1}}}})
'''

README = '''# dd-{dash}

A ddcore plugin, stage name `{name}`: a selection stage that keeps IPC images per class.

    pip install -e .
    dd run --dataset digits --ipc 10 --plugins {name}            # random real pool, {name} keeps 10 per class
    pytest tests

## Options

| option | default | meaning |
|---|---|---|
| `order` | `first` | which images to keep: first (pool order) or random |

See ddcore's docs/writing-plugins.md for synthesizers, scorers, modifiers, commands and datasets.
'''


def create_plugin(name: str, parent: Path) -> Path:
    """Write ``parent/dd-<name>/`` (atomically: all files or none); returns the folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"plugin name {name!r} must be lower-case letters, digits and underscores, starting with a letter "
                          "(it becomes the stage name and the module dd_<name>).")
    dash = name.replace("_", "-")
    folder = parent / f"dd-{dash}"
    if folder.exists():
        raise ConfigError(f"{folder} already exists; choose another name or --dir.")
    cls = "".join(part.capitalize() for part in name.split("_"))
    files = {
        "pyproject.toml": PYPROJECT, "README.md": README, f"dd_{name}/__init__.py": MODULE, f"tests/test_{name}.py": TEST,
    }
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".dd-{dash}.", dir=parent))
    try:
        for rel, template in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(name=name, dash=dash, cls=cls))
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


@hookimpl
def register_commands(cli):
    import click

    @cli.command("new-plugin")
    @click.argument("name")
    @click.option("--dir", "parent", default=".", type=click.Path(file_okay=False), help="Where to create dd-NAME/ (default: here).")
    def new_plugin_cmd(name, parent) -> None:
        """Write a plugin package skeleton dd-NAME/ that installs and passes its own tests."""
        folder = create_plugin(name, Path(parent))
        click.echo(f"wrote {folder}: pip install -e {folder} && pytest {folder / 'tests'}; then edit {folder / ('dd_' + name)}/__init__.py")
