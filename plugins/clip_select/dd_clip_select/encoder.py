"""The CLIP encoder: an open_clip model by config name with weights from a pretrained tag, a
local file or a ``local-dir:`` folder, and the model's own preprocessing applied to tensors.

OpenAI weights were trained with QuickGELU; open_clip checks that only for tags, so a weights
*file* with a config that lacks it is loaded with ``force_quick_gelu`` when the user says the
file is OpenAI's (``quickgelu=true``) — or use a ``-quickgelu`` config name.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ddcore import ConfigError


@contextmanager
def quiet_open_clip():
    """open_clip warns on the root logger that a model "initialized randomly" — which is exactly what
    fitting one from scratch means; hide that one level while creating such a model."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def model_input(preprocess, images01: torch.Tensor) -> torch.Tensor:
    """[0, 1] N×C×H×W tensors -> the model's input: RGB, then the tensor steps of open_clip's own
    validation transform (resize, centre crop, normalise), applied to the whole batch."""
    x = images01.expand(-1, 3, -1, -1) if images01.shape[1] == 1 else images01
    for step in getattr(preprocess, "transforms", []):
        if type(step).__name__ in ("Resize", "CenterCrop", "Normalize"):
            x = step(x)
    return x


@dataclass
class ClipEncoder:
    model: torch.nn.Module
    tokenizer: object
    preprocess: object  # open_clip's validation transform (Resize, CenterCrop, Normalize, ...)
    description: str  # which model and weights, for the log and the manifest
    identity: str  # what embeddings made with this encoder are cached under
    precision: str = "fp32"  # encode under bf16 autocast when "bf16"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prepare(self, images01: torch.Tensor) -> torch.Tensor:
        """[0, 1] N×C×H×W -> the model's input (``model_input`` with this model's preprocessing)."""
        return model_input(self.preprocess, images01)

    @torch.no_grad()
    def images(self, images01: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """L2-normalised image embeddings (N, d) on the CPU."""
        from ddcore import autocast

        self.model.eval()
        with autocast(self.precision, self.device):
            out = [F.normalize(self.model.encode_image(self.prepare(b).to(self.device)).float(), dim=1).cpu()
                   for b in images01.split(batch_size)]
        return torch.cat(out)

    @torch.no_grad()
    def classes(self, class_names: list[str], templates: list[str]) -> torch.Tensor:
        """(C, d) class text embeddings: each template filled, normalised, averaged, re-normalised."""
        from ddcore import autocast

        self.model.eval()
        rows = []
        for name in class_names:
            tokens = self.tokenizer([t.format(name.replace("_", " ")) for t in templates]).to(self.device)
            with autocast(self.precision, self.device):
                e = F.normalize(self.model.encode_text(tokens).float(), dim=1).mean(0)
            rows.append(F.normalize(e, dim=0).cpu())
        return torch.stack(rows)


def create_encoder(model_name: str, weights: str | None, device: torch.device, quickgelu: bool = False,
                   cache_dir: str | None = None) -> ClipEncoder:
    """An open_clip model with ``weights``: a local file, a pretrained tag, or none for ``local-dir:`` names."""
    import open_clip

    kwargs = {"device": device, "force_quick_gelu": quickgelu}
    if model_name.startswith("local-dir:"):
        folder = Path(model_name[len("local-dir:"):]).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise ConfigError(f"clip_select.model={model_name} needs a folder with open_clip_config.json and the weights; "
                              "check the path.")
        source, name = f"local folder {folder}", f"local-dir:{folder}"
        model, _, preprocess = open_clip.create_model_and_transforms(name, **kwargs)
    elif weights and Path(weights).expanduser().is_file():
        path = Path(weights).expanduser()
        source, name = f"file {path}", model_name
        model, _, preprocess = _create(open_clip, model_name, str(path), kwargs)
    elif weights:
        source, name = f"pretrained tag {weights}", model_name
        model, _, preprocess = _create(open_clip, model_name, weights, {**kwargs, "cache_dir": cache_dir})
    else:
        raise ConfigError("create_encoder needs weights or a local-dir: model")  # the caller decides what no weights means
    tokenizer = open_clip.get_tokenizer(name)
    return ClipEncoder(model.eval(), tokenizer, preprocess, f"open_clip {model_name} with weights from {source}",
                       f"{name}|{source}|quickgelu={quickgelu}")


def _create(open_clip, model_name: str, pretrained: str, kwargs: dict):
    try:
        return open_clip.create_model_and_transforms(model_name, pretrained=pretrained, **kwargs)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:200]
        raise ConfigError(f"open_clip could not load weights {pretrained!r} for {model_name} ({first}); give a local weights "
                          "file, a pre-filled cache (--cache-dir), or fit a model with `dd clip_select fit`.") from None
