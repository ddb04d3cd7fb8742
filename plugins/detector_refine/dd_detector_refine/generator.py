"""One interface over the two diffusion sources: a local Stable Diffusion folder, or our small model.

Both are a diffusers ``StableDiffusionImg2ImgPipeline``. ``encode`` maps [0, 1] images to
scaled latents (the space prototypes live in); ``img2img`` noises given latents to strength σ
and denoises them with classifier-free guidance toward a class, one seed per image, returning
[0, 1] images at the dataset's size. A 4-channel tensor handed to the pipeline is taken as
ready latents (no VAE encode), which is how prototypes enter (D4M's ``Latents2Img``).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ddcore import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import RealData, RunContext

    from .options import DetectorRefineOptions


@dataclass
class DiffusionGenerator:
    """A loaded img2img pipeline plus how to condition it on a class and how to size images."""

    pipe: object
    description: str
    identity: str  # what prototypes made with this generator are cached under
    image_shape: tuple[int, int, int]  # the dataset's C, H, W
    resolution: int  # the size images are encoded at
    class_prompts: list[str] | None = None  # Stable Diffusion: one prompt per class
    negative_prompt: str = ""
    class_table: torch.Tensor | None = None  # small model: (C + 1, tokens·width), last row = null class
    tokens: int = 1
    default_guidance: float = 8.0  # w when the option is unset: D4M's 8 for Stable Diffusion
    precision: str = "fp32"  # sampling under bf16 autocast when "bf16"

    def guidance(self, opts) -> float:
        """The option's w, or this generator's default when the user left it unset."""
        return self.default_guidance if opts.guidance is None else opts.guidance

    @property
    def device(self) -> torch.device:
        return self.pipe.unet.device

    # --- pixel <-> latent -------------------------------------------------------------------

    def _to_model_space(self, images01: torch.Tensor) -> torch.Tensor:
        vae_channels = self.pipe.vae.config.in_channels
        x = images01
        if x.shape[1] != vae_channels:
            x = x.mean(1, keepdim=True).expand(-1, vae_channels, -1, -1) if vae_channels == 3 else x.mean(1, keepdim=True)
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        return x * 2 - 1

    def _to_data_space(self, images01: torch.Tensor) -> torch.Tensor:
        c, h, w = self.image_shape
        x = images01
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        if x.shape[1] != c:
            x = x.mean(1, keepdim=True).expand(-1, c, -1, -1).contiguous() if x.shape[1] == 3 else x.expand(-1, c, -1, -1)
        return x.clamp(0, 1)

    @torch.no_grad()
    def encode(self, images01: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Scaled latents ``s·E(x)`` (posterior means) of [0, 1] images."""
        vae = self.pipe.vae
        out = [vae.encode(self._to_model_space(b.to(self.device, vae.dtype))).latent_dist.mean * vae.config.scaling_factor
               for b in images01.split(batch_size)]
        return torch.cat(out).float().cpu()

    # --- generation -------------------------------------------------------------------------

    def _conditioning(self, classes: torch.Tensor) -> dict:
        if self.class_table is not None:
            table = self.class_table.to(self.device, self.pipe.unet.dtype)
            null = torch.full_like(classes, table.shape[0] - 1)
            shape = (len(classes), self.tokens, -1)
            return {"prompt_embeds": table[classes].view(shape), "negative_prompt_embeds": table[null].view(shape)}
        assert self.class_prompts is not None
        return {"prompt": [self.class_prompts[int(c)] for c in classes],
                "negative_prompt": [self.negative_prompt] * len(classes)}

    @torch.no_grad()
    def img2img(self, latents: torch.Tensor, classes: torch.Tensor, seeds: list[int], strength: float, guidance: float,
                steps: int) -> torch.Tensor:
        """[0, 1] images in the dataset's shape: each latent noised to ``strength`` with its seed, denoised toward its class."""
        from ddcore import autocast

        gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        with autocast(self.precision, self.device):
            out = self.pipe(image=latents.to(self.device, self.pipe.unet.dtype), strength=strength, guidance_scale=guidance,
                            num_inference_steps=steps, generator=gens, output_type="pt", **self._conditioning(classes.cpu()))
        return self._to_data_space(out.images.float().cpu())


def load_generator(ctx: RunContext, data: RealData, opts: DetectorRefineOptions) -> DiffusionGenerator:
    """The user's Stable Diffusion folder, else the small model trained on ``data`` (cached)."""
    if opts.generator == "tiny":
        from .tiny_ldm import train_tiny_ldm

        with ctx.dist.main_first():  # torchrun: rank 0 trains and caches it, the others load it
            folder = train_tiny_ldm(ctx.cache, data, opts.tiny_settings(), ctx.seed, ctx.device, log=ctx.log, quiet=ctx.quiet)
        generator = load_tiny(folder, data, ctx.device)
    else:
        generator = load_stable_diffusion(Path(opts.generator).expanduser(), data, opts, ctx.device)
    if opts.precision != "fp32":  # what it generates differs, and so must the prototypes' cache key
        generator.precision, generator.identity = opts.precision, f"{generator.identity}:{opts.precision}"
    return generator


@contextmanager
def quiet_diffusers():
    """Silence diffusers' load/save chatter (missing optional parts, accelerate hints): our log says what loaded."""
    from diffusers.utils import logging

    level, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _quiet(pipe) -> None:
    pipe.set_progress_bar_config(disable=True)


def load_tiny(folder: Path, data: RealData, device: torch.device) -> DiffusionGenerator:
    from diffusers import StableDiffusionImg2ImgPipeline
    from safetensors.torch import load_file

    from .tiny_ldm import CLASS_TABLE

    info = json.loads((folder / "ddcore_generator.json").read_text())
    with quiet_diffusers():
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(folder, local_files_only=True, text_encoder=None, tokenizer=None,
                                                              safety_checker=None, feature_extractor=None,
                                                              low_cpu_mem_usage=False).to(device)
    _quiet(pipe)
    return DiffusionGenerator(pipe=pipe, description=f"small latent diffusion model trained on {data.name} ({folder})",
                              identity=f"tiny:{folder.name}",
                              image_shape=data.image_shape, resolution=max(data.image_shape[1:]),
                              class_table=load_file(str(folder / CLASS_TABLE))["weight"], tokens=int(info["tokens"]),
                              default_guidance=1.0)  # bench/refine_quality.py: w = 1 beats 8 by 6-8 points here


def load_stable_diffusion(folder: Path, data: RealData, opts: DetectorRefineOptions, device: torch.device) -> DiffusionGenerator:
    from diffusers import StableDiffusionImg2ImgPipeline

    if not (folder / "model_index.json").is_file():
        raise ConfigError(f"detector_refine.generator={folder} is not a diffusers folder (no model_index.json); "
                          "point it at a saved Stable Diffusion pipeline or use generator=tiny.")
    dtype = torch.float16 if device.type == "cuda" else torch.float32  # half precision only where it is fast
    with quiet_diffusers():
        pipe = StableDiffusionImg2ImgPipeline.from_pretrained(folder, local_files_only=True, safety_checker=None,
                                                              requires_safety_checker=False).to(device, dtype)
    _quiet(pipe)
    prompts = [opts.prompt.format(name=name.replace("_", " ")) for name in data.class_names]
    return DiffusionGenerator(pipe=pipe, description=f"Stable Diffusion img2img from {folder}", identity=f"sd:{folder.resolve()}:{opts.resolution}",
                              image_shape=data.image_shape,
                              resolution=opts.resolution, class_prompts=prompts, negative_prompt=opts.negative_prompt)
