"""Typed plugin options: parsing ``-o stage.key=value`` and run files, validating before compute.

A stage declares a pydantic model (subclass ``Options`` so unknown keys are rejected) through
the ``register_options`` hook. Values arrive as text from the command line (parsed as TOML
values, so ``0.25``, ``true``, ``[1, 2]`` and ``"text"`` mean what they look like; anything else
stays a string) or typed from a run file; pydantic converts and checks them.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError


class Options(BaseModel):
    """Base for a stage's options: unknown keys are errors, values are validated on assignment.

    Override ``implied_options`` to give defaults to another namespace of the run (a paper preset
    that distils with ConvNet-D5 returns ``{"eval": {"model": "convnet-d5"}}``); what the user
    sets always wins.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def implied_options(self) -> dict[str, dict[str, Any]]:
        return {}


def check_options_model(plugin: str, name: str, model: Any) -> None:
    """Refuse, with the plugin's name, an options model users could not read or leave unset."""
    from .errors import PluginError

    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PluginError(plugin, f"options for {name!r} must be a pydantic model class (subclass ddcore.Options)")
    for field_name, f in model.model_fields.items():
        if f.is_required() or not f.description:
            missing = "default" if f.is_required() else "description"
            raise PluginError(plugin, f"option {name}.{field_name} has no {missing}; give every field "
                                      f"Field(default, description=...)")


def parse_value(text: str) -> Any:
    """Read ``text`` as a TOML value; fall back to the raw string (``-o x.path=~/data``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``["edf.cpd_ratio=0.25"]`` -> ``{"edf": {"cpd_ratio": 0.25}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        stage, dot, field = key.strip().rpartition(".")
        if not sep or not dot or not stage or not field:
            raise ConfigError(f"option {item!r} must look like STAGE.KEY=VALUE, for example -o edf.cpd_ratio=0.25.")
        out.setdefault(stage, {})[field] = parse_value(value.strip())
    return out


def load_run_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML run file: top-level run settings plus one table per stage."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"run file {path} does not exist; pass an existing .toml or .yaml file to --config.")
    text = path.read_text()
    try:
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:
        raise ConfigError(f"run file {path} cannot be parsed ({str(exc).splitlines()[0]}); fix its syntax.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"run file {path} must hold a table of settings, not {type(data).__name__}.")
    return data


def merge(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Later layers win, key by key."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for stage, values in layer.items():
            out.setdefault(stage, {}).update(values)
    return out


def validate_options(
    raw: dict[str, dict[str, Any]],
    models: dict[str, type[BaseModel]],
    active: list[str],
    context: dict[str, Any] | None = None,
) -> dict[str, BaseModel]:
    """Turn raw values into one validated model per active stage that declares options.

    ``models``: every registered options model by stage name; ``active``: the stage names this
    run uses; ``context``: pydantic's validation context (``{"models": ...}`` checks model
    names against the registry). Raises ConfigError naming the stage, the key and the valid choices.
    """
    for stage in raw:
        if stage not in active:
            known = [s for s in active if s in models]
            hint = _did_you_mean(stage, list(models))
            if stage in models:
                raise ConfigError(f"options for {stage!r} were given, but {stage!r} is not in this run's --plugins; add it or drop the options.")
            raise ConfigError(f"no stage {stage!r} takes options{hint}; stages in this run with options: {', '.join(known) or 'none'}.")
    resolved: dict[str, BaseModel] = {}
    for stage in active:
        model = models.get(stage)
        values = raw.get(stage, {})
        if model is None:
            if values:
                raise ConfigError(f"stage {stage!r} takes no options, but got {', '.join(sorted(values))}.")
            continue
        fields = list(model.model_fields)
        for key in values:
            if key not in fields:
                raise ConfigError(
                    f"{stage} has no option {key!r}{_did_you_mean(key, fields)}; valid options: {', '.join(fields) or 'none'}."
                )
        try:
            resolved[stage] = model.model_validate(values, context=context)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "?"
            raise ConfigError(f"option {stage}.{where}={err.get('input')!r} is invalid: {err.get('msg', 'bad value')}.") from None
    return resolved


def options_help(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Rows of (name, type, default, description) for ``dd plugins`` and docs."""
    rows = []
    for name, f in model.model_fields.items():
        rows.append(
            {
                "name": name,
                "type": _type_name(f.annotation),
                "default": f.default if not f.is_required() else None,
                "help": f.description or "",
            }
        )
    return rows


def _type_name(annotation: Any) -> str:
    """``int | None`` -> "int or None"; ``Literal["a", "b"]`` -> "one of a, b"; a plain class -> its name."""
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(annotation)))
    if typing.get_origin(annotation) is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if args and type(None) in args:
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " or None"
    return getattr(annotation, "__name__", str(annotation))


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=3)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
