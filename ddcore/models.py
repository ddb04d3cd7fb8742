"""Network architectures by name, through the ``register_models`` registry.

A ``ModelSpec`` owns a family of names: ``convnet`` owns ``convnet`` and ``convnet-d4-w64``,
``timm`` owns ``timm:resnet18``. Option fields typed ``ModelName`` are checked against the
registry when a run is planned (before any compute); ``build_model`` builds through it.
Imports no torch at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Callable

from pydantic import AfterValidator, ValidationInfo

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass
class ModelSpec:
    """A family of model names.

    ``build(name, channels, num_classes, image_size)`` returns a freshly initialised network
    with ``forward`` (logits) and ``embed`` (features), seeded by torch's global RNG.
    ``check(name)`` raises ``ValueError`` (one sentence) when a name of the family is malformed.
    """

    name: str
    build: Callable[[str, int, int, tuple[int, int]], nn.Module]
    help: str
    check: Callable[[str], None] | None = None


def owner(name: str, models: dict) -> ModelSpec:
    """The spec that owns ``name`` (exact, ``family-...`` or ``family:...``); one sentence if none."""
    for family in (name, name.split(":", 1)[0], name.split("-", 1)[0]):
        if family in models:
            spec = getattr(models[family], "value", models[family])
            try:
                if spec.check is not None:
                    spec.check(name)
            except ValueError as exc:
                raise ConfigError(f"model {name!r}: {str(exc).rstrip('.')}; {spec.help}.") from None
            return spec
    known = "; ".join(getattr(m, "value", m).help for m in models.values())
    raise ConfigError(f"model {name!r} is unknown; known: {known}.")


def _registered_models() -> dict:
    from .plugins import get_plugin_manager

    return get_plugin_manager().registry.models


def _validate(name: str, info: ValidationInfo) -> str:
    models = (info.context or {}).get("models") if info.context else None
    try:
        owner(name, models if models is not None else _registered_models())
    except ConfigError as exc:
        raise ValueError(str(exc).rstrip(".")) from None
    return name


# The type of an options field that names a model: ``model: ModelName = "convnet"``.
ModelName = Annotated[str, AfterValidator(_validate)]


def build_model(name: str, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
    """A freshly initialised network of a registered family (seed torch's global RNG first)."""
    return owner(name, _registered_models()).build(name, channels, num_classes, tuple(image_size))


def architecture_fingerprint(net: nn.Module) -> str:
    """A short hash of the parameter names and shapes: keys caches by the network actually built
    (a name like ``convnet`` resolves differently for different image sizes)."""
    import hashlib

    layout = [(n, tuple(p.shape)) for n, p in net.named_parameters()]
    return hashlib.sha256(repr(layout).encode()).hexdigest()[:12]


def check_model_name(name: str) -> str:
    """``name`` when a registered family owns it and accepts it; a one-sentence ConfigError otherwise."""
    owner(name, _registered_models())
    return name
