"""clip_select's options (stage ``clip_select``). Imports no torch.

Which values come from the paper and which are our reconstruction is listed in the plugin
README (research/clip_select.md §1.6); every constant is an option.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ddcore import Options


class ClipSelectOptions(Options):
    # encoder
    model: str = Field("ViT-B-32", description="open_clip config name (ViT-B-32-quickgelu for OpenAI weights), "
                                               "or local-dir:FOLDER holding open_clip_config.json and the weights")
    weights: str | None = Field(None, description="a local weights file (.pt/.bin/.safetensors), or an open_clip pretrained "
                                                  "tag (from the Hugging Face cache; downloaded when online)")
    quickgelu: bool = Field(False, description="the weights file is OpenAI's (trained with QuickGELU)")
    no_weights: Literal["fit", "diversity"] = Field(
        "fit", description="with neither weights nor a local-dir model: fit = a small open_clip model trained on the real "
                           "data (cached; `dd clip_select fit`), diversity = diversity-only selection without CLIP scores")
    fit_epochs: int = Field(10, ge=1, description="epochs of the fitted model (no_weights=fit)")
    # text side
    templates: str = Field("default", description="default (open_clip's 7 simple ImageNet templates), openai (its 80), "
                                                  "or a text file with one template per line, each containing {}")
    class_names: str | None = Field(None, description="a text file with one display name per class, in class order "
                                                      "(default: the dataset's class names)")
    # stage 1
    alpha: float = Field(0.5, ge=0, le=1, description="α: Q = α·relevance + (1 − α)·separability, each min-max normalised per class")
    separability: Literal["text", "prototype"] = Field("text", description="margin to the best other class prompt (text) "
                                                                           "or class mean image embedding (prototype)")
    beta: float = Field(2.0, ge=1, description="β: stage 1 keeps the top ⌈β·IPC⌉ of each class by Q")
    zero_shot_filter: bool = Field(False, description="stage 1 keeps only images CLIP classifies as their label "
                                                      "(ignored for a class where fewer than IPC pass)")
    # stage 2
    mode: Literal["mmr", "facility", "kcenter"] = Field("mmr", description="mmr: λ·Q + (1 − λ)·diversity greedy; "
                                                                         "facility: coverage of the candidates; kcenter: farthest point")
    lam: float = Field(0.5, ge=0, le=1, description="λ of mode=mmr (1 = top-IPC by Q, 0 = farthest point)")
    rescale_diversity: bool = Field(True, description="mode=mmr divides the diversity term by its largest value among the "
                                                       "remaining candidates at each pick (same scale as Q whatever the encoder)")
    weighted_coverage: bool = Field(True, description="mode=facility weights each candidate's coverage by its Q")
    batch_size: int = Field(256, ge=1, description="images per encoder call")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="the CLIP embedding: fp32, or bf16 autocast (for GPUs)")

    @field_validator("templates")
    @classmethod
    def _templates_exist(cls, value: str) -> str:
        if value not in ("default", "openai"):
            from .text import templates_for

            templates_for(value)  # a missing or malformed file stops the run before any compute
        return value

    @field_validator("class_names")
    @classmethod
    def _names_file_exists(cls, value: str | None) -> str | None:
        from pathlib import Path

        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"{value} is not a file; give a text file with one name per class")
        return value
