"""detector_refine's options (stage ``detector_refine``). Imports no torch.

Which values come from the paper and which are our reconstruction is listed in the plugin
README; every constant is an option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ddcore import ModelName, Options


class DetectorRefineOptions(Options):
    # generator
    generator: str = Field("tiny", description="tiny = a small latent diffusion model trained on the real data (cached); "
                                               "or a local diffusers Stable Diffusion folder")
    prompt: str = Field("{name}", description="Stable Diffusion: prompt template per class ({name} = class name)")
    negative_prompt: str = Field("cartoon, anime, painting", description="Stable Diffusion: negative prompt (D4M's)")
    resolution: int = Field(512, ge=8, description="Stable Diffusion: images are encoded and generated at this size")
    strength: float = Field(0.7, gt=0, le=1, description="img2img strength σ: how far prototypes are noised before denoising")
    guidance: float | None = Field(None, ge=1, description="classifier-free guidance scale w; unset: 8 with Stable Diffusion "
                                                          "(D4M), 1 with the small generator (better training images, README)")
    steps: int = Field(50, ge=1, description="scheduler steps N (⌊σN⌋ of them run)")
    gen_width: int = Field(32, ge=8, description="small generator: channels of its first block")
    gen_vae_epochs: int = Field(10, ge=1, description="small generator: autoencoder training epochs")
    gen_unet_epochs: int = Field(60, ge=1, description="small generator: denoiser training epochs")
    # prototypes
    kmeans_init: int = Field(3, ge=1, description="k-means restarts (n_init) per class")
    # detector
    detector_model: ModelName = Field("convnet", description="detector architecture, trained on the real data and cached")
    detector_epochs: int = Field(30, ge=1, description="detector training epochs")
    detector_weights: str | None = Field(None, description="a state_dict for detector_model (.safetensors or torch, loaded weights_only)")
    # anomaly rule
    beta: float = Field(0.5, ge=0, le=1, description="β: an image is anomalous when p(label) < β or argmax ≠ label")
    # refinement
    candidates: int = Field(10, ge=1, description="K: candidates generated per anomalous image")
    top_k: int = Field(3, ge=1, description="keep the top-k valid candidates by confidence, then take the most dissimilar")
    selection: Literal["topk", "weighted"] = Field("topk", description="topk: top-k by confidence then most dissimilar; "
                                                                         "weighted: confidence + λ·dissimilarity")
    diversity_weight: float = Field(1.0, ge=0, description="λ of selection=weighted")
    rounds: int = Field(1, ge=0, description="R: regeneration rounds for images still anomalous (0 = detect only)")
    fallback: Literal["most_confident", "keep"] = Field(
        "most_confident", description="when no candidate is valid: the most confident candidate if it beats the image, or keep the image")
    batch_size: int = Field(64, ge=1, description="images per diffusion call")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="the detector and the generator (training and sampling): "
                                                                   "fp32, or bf16 autocast (for GPUs)")

    @field_validator("generator")
    @classmethod
    def _generator(cls, value: str) -> str:
        if value == "tiny":
            return value
        path = Path(value).expanduser()
        if not (path / "model_index.json").is_file():
            raise ValueError(f"{value} is not a local diffusers folder (no model_index.json); give a saved Stable Diffusion "
                             "pipeline folder or 'tiny'")
        return str(path)

    @field_validator("detector_weights")
    @classmethod
    def _weights(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"detector weights {value} do not exist; give a state_dict file")
        return value if value is None else str(Path(value).expanduser())

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        try:
            value.format(name="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("the prompt template may only use {name}") from None
        return value

    def tiny_settings(self):
        from .tiny_ldm import TinyLdmSettings

        return TinyLdmSettings(width=self.gen_width, vae_epochs=self.gen_vae_epochs, unet_epochs=self.gen_unet_epochs,
                               precision=self.precision)
