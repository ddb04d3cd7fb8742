"""The evaluation protocol's options (stage name ``eval``), registered like any stage's.

Kept free of torch so option validation and ``dd plugins --options`` stay instant; the protocol
itself is ``ddcore/evaluate.py``.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ddcore.hookspecs import hookimpl
from ddcore.model_names import ModelName
from ddcore.options import Options

DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"
DSA_FAMILIES = set(DSA_STRATEGY.split("_"))


class EvalOptions(Options):
    num_nets: int = Field(5, ge=1, description="K: fresh networks trained from scratch; the result is their mean ± std")
    model: ModelName = Field("convnet", description="architecture: convnet[-dN][-wN][-in|-bn|-ln|-nn] or timm:NAME")
    epochs: int = Field(300, ge=1, description="training epochs per network (MTT/DATM/EDF use 1000)")
    lr: float = Field(0.01, gt=0, description="SGD learning rate, used when the set has no learned one (or use_learned_lr=false)")
    use_learned_lr: bool = Field(True, description="train with the set's learned learning rate when it has one")
    momentum: float = Field(0.9, ge=0, description="SGD momentum")
    weight_decay: float = Field(5e-4, ge=0, description="SGD weight decay")
    batch_size: int = Field(256, ge=1, description="minibatch size")
    dsa_strategy: str = Field(DSA_STRATEGY, description="DSA families joined by '_', one drawn per batch; 'none' disables augmentation")
    temperature: float = Field(1.0, gt=0, description="soft labels: cross-entropy against softmax(logits / temperature)")
    seed: int = Field(0, description="seeds network k's initialisation and batch order (the same for the set and its baselines)")

    @field_validator("dsa_strategy")
    @classmethod
    def _known_families(cls, value: str) -> str:
        bad = [f for f in value.split("_") if f not in DSA_FAMILIES] if value != "none" else []
        if bad:
            raise ValueError(f"unknown DSA family {bad[0]!r}; join some of {', '.join(sorted(DSA_FAMILIES))} with '_', or 'none'")
        return value


@hookimpl
def register_options(register):
    register("eval", EvalOptions)
