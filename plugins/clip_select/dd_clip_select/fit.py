"""``dd clip_select fit``: a small open_clip model trained contrastively on the labelled real images,
for datasets where no pretrained CLIP weights are at hand.

Each training image is paired with a caption made from a random template and its class name;
the model is trained with open_clip's own ``ClipLoss`` (symmetric InfoNCE with the learned
temperature). The result is saved as an open_clip ``local-dir:`` folder (``open_clip_config.json``
+ ``open_clip_model.safetensors``) in the cache, keyed by data, config and settings, so runs load
it through the same path as any user folder.

Runs fit it on first use when no weights are given (``no_weights=fit``); ``dd clip_select fit``
does it ahead of time.
"""

from __future__ import annotations

import logging

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import Cache, RealData

CACHE_KIND = "clip_select-fitted"
CODE_VERSION = 1


@dataclass(frozen=True)
class FitSettings:
    """The small model and its training (all part of the cache key).

    The image tower is open_clip's ModifiedResNet (a list of layer counts), not a ViT: on digits a
    small ViT's features barely depend on the image at initialisation and both towers collapsed
    to a constant (loss stuck at log batch size), while the ResNet tower learns within an epoch.
    """

    embed_dim: int = 64
    image_size: int = 32
    vision_width: int = 32
    vision_layers: tuple[int, ...] = (1, 1, 1, 1)
    text_width: int = 64
    text_layers: int = 2
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3

    def model_cfg(self) -> dict:
        return {"embed_dim": self.embed_dim,
                "vision_cfg": {"image_size": self.image_size, "layers": list(self.vision_layers), "width": self.vision_width,
                               "head_width": self.vision_width},
                "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": self.text_width, "heads": max(1, self.text_width // 64),
                             "layers": self.text_layers}}


def _spec(data: RealData, settings: FitSettings, templates: list[str], seed: int) -> dict:
    return {"data": data.fingerprint(), "settings": asdict(settings), "templates": templates, "classes": list(data.class_names),
            "seed": seed, "code": CODE_VERSION}


def fit_clip(cache: Cache, data: RealData, settings: FitSettings, templates: list[str], seed: int, device: torch.device,
             log: Callable[[str], None] = logging.getLogger("ddcore.clip_select").info, quiet: bool = False) -> Path:
    """The ``local-dir`` folder of the fitted model; trains it on first use (once, when several processes need it at once)."""
    from ddcore import progress_file

    spec = _spec(data, settings, templates, seed)
    partial = progress_file(cache, CACHE_KIND, spec)  # each epoch: a killed fit continues from it

    def build(folder: Path) -> None:
        log(f"fitting a small open_clip model on {len(data.train_labels)} real images for {settings.epochs} epochs "
            f"(captions from {len(templates)} templates; cached in {partial.parent})")
        _train(folder, data, settings, templates, seed, device, log, quiet, partial)

    path = cache.get_or_create_dir(CACHE_KIND, spec, build, log=log)
    partial.unlink(missing_ok=True)  # the entry is published (by this call or another): its resume file is done with
    return path


def _train(folder: Path, data: RealData, s: FitSettings, templates: list[str], seed: int, device: torch.device,
           log: Callable[[str], None], quiet: bool, partial: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    from ddcore import derive_seed, load_progress, progress_bar, save_progress

    name = f"ddcore-fit-{abs(hash(json.dumps(s.model_cfg(), sort_keys=True))) % 10**8}"
    (folder / f"{name}.json").write_text(json.dumps(s.model_cfg()))
    open_clip.add_model_config(folder / f"{name}.json")  # open_clip names a config after its file
    from .encoder import model_input, quiet_open_clip

    torch.manual_seed(derive_seed(seed, "clip-fit-init"))
    with quiet_open_clip():
        model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
    tokenizer = open_clip.get_tokenizer(name)

    def prepare(images01: torch.Tensor) -> torch.Tensor:
        return model_input(preprocess, images01)

    def pixels01(idx: torch.Tensor) -> torch.Tensor:
        """Rows of the training split in [0, 1], read a batch at a time (the split stays compact on the host)."""
        return data.denormalize(data.images_of("train", idx, device))
    captions = [[t.format(n.replace("_", " ")) for t in templates] for n in data.class_names]
    tokens = torch.stack([tokenizer(c) for c in captions])  # (classes, templates, 77)
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(derive_seed(seed, "clip-fit-train"))
    done, loss = 0, torch.tensor(float("nan"))
    ck = load_progress(partial, device, log)
    if ck is not None:
        model.load_state_dict(ck["model"]), opt.load_state_dict(ck["opt"]), g.set_state(ck["rng"].cpu())
        done = int(ck["epochs"])
        log(f"resuming the CLIP fit after {done} of {s.epochs} epochs")
    model.train()
    bar = progress_bar(range(done, s.epochs), desc="fit clip", quiet=quiet)
    for epoch in bar:
        for idx in torch.randperm(len(data.train_labels), generator=g).split(s.batch_size):
            y = data.train_labels[idx]
            pick = torch.randint(len(templates), (len(idx),), generator=g)
            img = model.encode_image(prepare(pixels01(idx)), normalize=True)
            txt = model.encode_text(tokens[y, pick].to(device), normalize=True)
            loss = loss_fn(img, txt, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, 4.6052)  # CLIP's cap: temperature ≥ 1/100
        bar.set_postfix(loss=f"{loss.item():.3f}")
        save_progress(partial, {"model": model.state_dict(), "opt": opt.state_dict(), "rng": g.get_state(), "epochs": epoch + 1})
    recalibrate_batchnorm(model, (pixels01(idx) for idx in torch.arange(len(data.train_labels)).split(s.batch_size)), prepare)
    log(f"fitted: last contrastive loss {loss.item():.3f}, logit scale {model.logit_scale.exp().item():.1f}")
    pre = {k: v for k, v in open_clip.get_model_preprocess_cfg(model).items() if k in ("mean", "std", "interpolation", "resize_mode")}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": s.model_cfg(), "preprocess_cfg": pre}, indent=2))
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))


@torch.no_grad()
def recalibrate_batchnorm(model, batches01, prepare) -> None:
    """Replace BatchNorm's running statistics by exact averages over the training images.

    The running averages gathered while the weights moved were far off: on digits the fitted
    model scored 98 % zero-shot with batch statistics but 19 % in eval mode; after this, 98 %
    in eval mode too ("precise BN").
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    model.train()
    for batch in batches01:
        model.encode_image(prepare(batch))
    for m in norms:
        m.momentum = 0.1
    model.eval()
