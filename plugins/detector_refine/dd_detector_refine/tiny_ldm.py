"""The small latent diffusion model used when the user gives no diffusion weights.

Built only from diffusers classes (research/detector_refine.md §4.1, option A): an
``AutoencoderKL`` that shrinks the image 2–8× into 4 latent channels (``latent_factor``), a class-conditional
``UNet2DConditionModel`` that reads a learned class-token table through cross-attention (the
last row is the null class for classifier-free guidance), and a ``DDIMScheduler``. Trained on
the run's real training images, saved with ``save_pretrained`` into the cache, and resumable:
every epoch writes a checkpoint next to the cache entry.
"""

from __future__ import annotations

import logging

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import Cache, RealData

CODE_VERSION = 2  # bump when training changes in a way the cache key cannot see (2: VAE sampling seeded)
CACHE_KIND = "detector_refine-generator"
CLASS_TABLE = "class_tokens.safetensors"


@dataclass(frozen=True)
class TinyLdmSettings:
    """Everything that shapes the small generator (part of its cache key)."""

    width: int = 32  # channels of the first VAE/UNet block; the second has twice as many
    tokens: int = 4  # class-conditioning tokens the UNet attends to
    vae_epochs: int = 10
    unet_epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    kl_weight: float = 1e-6
    uncond_prob: float = 0.1  # how often a label is replaced by the null class (for CFG)
    precision: str = "fp32"  # bf16: training losses under autocast


def cache_spec(data: RealData, settings: TinyLdmSettings, seed: int) -> dict:
    fields = asdict(settings)
    if fields["precision"] == "fp32":  # fp32 models keep the key they had before the option existed
        del fields["precision"]
    return {"data": data.fingerprint(), "shape": list(data.image_shape), "classes": data.num_classes,
            "settings": fields, "seed": seed, "code": CODE_VERSION}


def scheduler():
    """DDIM with the Stable Diffusion noise schedule (research note §4.1)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def latent_factor(size: int) -> int:
    """How much the autoencoder shrinks the image: latents of about 4–16 pixels keep the denoiser cheap
    on a CPU (8×8 digits -> 4×4, 28×28 MNIST -> 7×7, 32×32 CIFAR -> 8×8, 64 -> 16, larger ÷ 8 as in SD)."""
    return 2 if size <= 16 else 4 if size <= 64 else 8


def build_parts(channels: int, size: int, num_classes: int, s: TinyLdmSettings):
    """Fresh VAE, UNet and class-token table for ``channels``×``size``×``size`` images."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    w = (s.width, 2 * s.width)
    groups = min(8, s.width)
    blocks = 1 + int(math.log2(latent_factor(size)))
    vae_w = (s.width, *[2 * s.width] * (blocks - 1))
    vae = AutoencoderKL(in_channels=channels, out_channels=channels, latent_channels=4, block_out_channels=vae_w,
                        down_block_types=("DownEncoderBlock2D",) * blocks, up_block_types=("UpDecoderBlock2D",) * blocks,
                        layers_per_block=1, norm_num_groups=groups, sample_size=size)
    unet = UNet2DConditionModel(sample_size=math.ceil(size / latent_factor(size)), in_channels=4, out_channels=4, block_out_channels=w,
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=s.width,
                                attention_head_dim=4, norm_num_groups=groups)
    tokens = nn.Embedding(num_classes + 1, s.tokens * s.width)
    return vae, unet, tokens


def class_tokens(table: nn.Embedding, classes: torch.Tensor, s_tokens: int) -> torch.Tensor:
    """(B,) class indices (C = null) -> (B, tokens, width) cross-attention states."""
    out = table(classes)
    return out.view(len(classes), s_tokens, -1)


def to_vae_range(images01: torch.Tensor) -> torch.Tensor:
    return images01 * 2 - 1


def train_tiny_ldm(cache: Cache, data: RealData, settings: TinyLdmSettings, seed: int, device: torch.device,
                   log: Callable[[str], None] = logging.getLogger("ddcore.detector_refine").info, quiet: bool = False) -> Path:
    """The folder of the trained generator; trains (or resumes training) on first use (once, when
    several processes need it at once)."""
    from ddcore import progress_file

    spec = cache_spec(data, settings, seed)
    partial = progress_file(cache, CACHE_KIND, spec)

    def build(folder: Path) -> None:
        log(f"training the small latent diffusion generator on {len(data.train_labels)} real images "
            f"({settings.vae_epochs} VAE + {settings.unet_epochs} UNet epochs; cached in {partial.parent}, resumable)")
        _train(data, settings, seed, device, partial, log, quiet).save(folder)

    path = cache.get_or_create_dir(CACHE_KIND, spec, build, log=log)
    partial.unlink(missing_ok=True)  # the entry is published (by this call or another): its resume file is done with
    return path


@dataclass
class TrainedParts:
    vae: nn.Module
    unet: nn.Module
    tokens: nn.Embedding
    settings: TinyLdmSettings
    class_names: list[str]

    def save(self, folder: Path) -> None:
        """A diffusers img2img pipeline folder plus the class-token table and a description."""
        from diffusers import StableDiffusionImg2ImgPipeline
        from safetensors.torch import save_file

        pipe = StableDiffusionImg2ImgPipeline(vae=self.vae, text_encoder=None, tokenizer=None, unet=self.unet,
                                              scheduler=scheduler(), safety_checker=None, feature_extractor=None,
                                              requires_safety_checker=False)
        from .generator import quiet_diffusers

        with quiet_diffusers():
            pipe.save_pretrained(folder)
        save_file({"weight": self.tokens.weight.detach().cpu().contiguous()}, str(folder / CLASS_TABLE))
        (folder / "ddcore_generator.json").write_text(json.dumps(
            {"kind": "tiny-ldm", "tokens": self.settings.tokens, "class_names": self.class_names}, indent=2))


def _train(data: RealData, s: TinyLdmSettings, seed: int, device: torch.device, partial: Path,
           log: Callable[[str], None], quiet: bool) -> TrainedParts:
    from ddcore import autocast, derive_seed, load_progress, progress_bar, save_progress

    c, h, w = data.image_shape
    torch.manual_seed(derive_seed(seed, "tiny-ldm-init"))
    vae, unet, tokens = build_parts(c, max(h, w), data.num_classes, s)
    vae, unet, tokens = vae.to(device), unet.to(device), tokens.to(device)
    opt_vae = torch.optim.Adam(vae.parameters(), lr=s.lr)
    opt_unet = torch.optim.Adam([*unet.parameters(), *tokens.parameters()], lr=s.lr)
    y_all = data.train_labels.to(device)

    def x_all(idx: torch.Tensor) -> torch.Tensor:  # streamed: the real pixels a batch at a time, in the VAE's range
        return to_vae_range(data.denormalize(data.images_of("train", idx, device)))

    g = torch.Generator().manual_seed(derive_seed(seed, "tiny-ldm-train"))
    done = {"vae": 0, "unet": 0}
    ck = load_progress(partial, device, log)
    if ck is not None:
        vae.load_state_dict(ck["vae"]), unet.load_state_dict(ck["unet"]), tokens.load_state_dict(ck["tokens"])
        opt_vae.load_state_dict(ck["opt_vae"]), opt_unet.load_state_dict(ck["opt_unet"])
        g.set_state(ck["rng"].cpu())
        done = {"vae": int(ck["vae_epochs"]), "unet": int(ck["unet_epochs"])}
        log(f"resuming generator training after {done['vae']} VAE and {done['unet']} UNet epochs")

    def save_partial() -> None:
        save_progress(partial, {"vae": vae.state_dict(), "unet": unet.state_dict(), "tokens": tokens.state_dict(),
                                "opt_vae": opt_vae.state_dict(), "opt_unet": opt_unet.state_dict(), "rng": g.get_state(),
                                "vae_epochs": done["vae"], "unet_epochs": done["unet"]})

    def batches():
        order = torch.randperm(len(y_all), generator=g).to(device)
        return order.split(s.batch_size)

    def run_phase(phase: str, module: nn.Module, opt, epochs: int, batch_loss) -> float:
        """Train ``module`` for the phase's remaining epochs, a checkpoint after each; the last loss."""
        last = float("nan")
        bar = progress_bar(range(done[phase], epochs), desc=f"generator: {dict(vae='VAE', unet='UNet')[phase]}", quiet=quiet)
        for _ in bar:
            module.train()
            for idx in batches():
                with autocast(s.precision, device):
                    loss = batch_loss(idx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            last = loss.item()
            bar.set_postfix(loss=f"{last:.4f}")
            done[phase] += 1
            save_partial()
        return last

    def vae_loss(idx: torch.Tensor) -> torch.Tensor:
        x = x_all(idx)
        post = vae.encode(x).latent_dist
        return F.mse_loss(vae.decode(post.sample(generator=g)).sample.float(), x) + s.kl_weight * post.kl().float().mean()

    run_phase("vae", vae, opt_vae, s.vae_epochs, vae_loss)
    vae.eval().requires_grad_(False)
    with torch.no_grad():
        latents = torch.cat([vae.encode(x_all(idx)).latent_dist.mean
                             for idx in torch.arange(len(y_all), device=device).split(256)])
    scale = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scale)
    z_all = latents * scale
    sched = scheduler()

    def denoising_loss(idx: torch.Tensor) -> torch.Tensor:
        z0, y = z_all[idx], y_all[idx].clone()
        y[(torch.rand(len(y), generator=g) < s.uncond_prob).to(device)] = data.num_classes  # the null class, for CFG
        noise = torch.randn(z0.shape, generator=g).to(device)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(y),), generator=g).to(device)
        pred = unet(sched.add_noise(z0, noise, t), t, encoder_hidden_states=class_tokens(tokens, y, s.tokens)).sample
        return F.mse_loss(pred.float(), noise)

    last = run_phase("unet", unet, opt_unet, s.unet_epochs, denoising_loss)
    log(f"generator trained: latent scale {scale:.3f}, last denoising loss {last:.4f}")
    return TrainedParts(vae.cpu(), unet.eval().cpu(), tokens.cpu(), s, list(data.class_names))
