"""Where the pool's embeddings come from, and their cache.

Three sources, chosen from the options and named in the log and the manifest:

* **pretrained** — open_clip with the user's weights (a file, a tag in a pre-filled cache, or a
  ``local-dir:`` folder);
* **fitted** — no weights given: the small open_clip model that ``dd clip_select fit`` trains on
  the real data (trained here on first use, then cached);
* **diversity-only** — no weights and ``no_weights=diversity``: no CLIP at all, so no semantic
  scores; the pool's own pixels (centred, L2-normalised) serve diversity-only selection.

Image and class-text embeddings are computed in batches on the run's device and cached per pool
(keyed by the pool's pixels and everything that determines the encoder), so the scoring and the
selection stage, and later runs on the same pool, encode once. Under torchrun each rank embeds
the rows i ≡ rank (mod W) and the rows are gathered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import DistilledSet, RealData, RunContext

    from .encoder import ClipEncoder
    from .options import ClipSelectOptions

CACHE_KIND = "clip_select-embeddings"
CODE_VERSION = 1


@dataclass
class PoolEmbedding:
    images: torch.Tensor  # (N, d), L2-normalised, CPU
    classes: torch.Tensor | None  # (C, d) class text embeddings; None when diversity-only
    source: str  # pretrained | fitted | diversity-only
    description: str

    @property
    def semantic(self) -> bool:
        return self.classes is not None


def encoder_source(opts: ClipSelectOptions) -> str:
    if opts.model.startswith("local-dir:") or opts.weights:
        return "pretrained"
    return "fitted" if opts.no_weights == "fit" else "diversity-only"


def load_encoder(ctx: RunContext, data: RealData, opts: ClipSelectOptions) -> ClipEncoder:
    """The open_clip encoder the options name; fits the small model first when none is given."""
    from .encoder import create_encoder
    from .fit import FitSettings, fit_clip
    from .text import templates_for

    if encoder_source(opts) == "pretrained":
        return create_encoder(opts.model, opts.weights, ctx.device, opts.quickgelu)
    with ctx.dist.main_first():  # torchrun: rank 0 fits and caches it, the others load it
        folder = fit_clip(ctx.cache, data, FitSettings(epochs=opts.fit_epochs), templates_for(opts.templates), ctx.seed,
                          ctx.device, log=ctx.log, quiet=ctx.quiet)
    encoder = create_encoder(f"local-dir:{folder}", None, ctx.device)
    encoder.description = f"open_clip model fitted by clip_select on the real training images of {data.name} ({folder})"
    return encoder


_memo: dict[str, PoolEmbedding] = {}  # the scorer and the selector of one run share it


def embed_pool(ctx: RunContext, pool: DistilledSet, data: RealData, opts: ClipSelectOptions) -> PoolEmbedding:
    """The pool's image embeddings and the class text embeddings, cached per pool."""
    if encoder_source(opts) == "diversity-only":
        pixels = pool.images.flatten(1).float()
        return PoolEmbedding(F.normalize(pixels - pixels.mean(0), dim=1), None, "diversity-only",
                             "none: no CLIP weights and no_weights=diversity, so no semantic scores; diversity on the "
                             "pool's centred pixels")
    spec = _spec(pool, data, opts, ctx.seed)
    key = repr(sorted(spec.items()))
    if key in _memo:
        return _memo[key]
    cached = ctx.cache.load(CACHE_KIND, spec)
    source = encoder_source(opts)
    if cached is not None:
        found = PoolEmbedding(cached["images"], cached["classes"], source, _text(cached["description"]))
    else:
        from .text import class_names_for, templates_for

        encoder = load_encoder(ctx, data, opts)
        encoder.precision = opts.precision
        ctx.log(f"encoder: {encoder.description}" + (f" (under {opts.precision} autocast)" if opts.precision != "fp32" else ""))
        from ddcore import gather_by_index

        mine = pool.images[ctx.dist.mine(len(pool))]
        batches = ctx.progress(list(mine.split(opts.batch_size)), desc="CLIP image embeddings")
        rows = [encoder.images(data.denormalize(b).clamp(0, 1), opts.batch_size) for b in batches] or \
            [encoder.images(data.denormalize(pool.images[:1]).clamp(0, 1))[:0]]  # a rank with no rows: an empty (0, d)
        images = gather_by_index(torch.cat(rows), len(pool), ctx.dist)
        classes = encoder.classes(class_names_for(opts.class_names, list(data.class_names)), templates_for(opts.templates))
        found = PoolEmbedding(images, classes, source, encoder.description)
        if ctx.dist.is_main:
            ctx.cache.save(CACHE_KIND, spec, {"images": images, "classes": classes,
                                              "description": _tensor(encoder.description)})
    _memo.clear()
    _memo[key] = found
    return found


def _tensor(text: str) -> torch.Tensor:  # safetensors holds tensors only
    return torch.tensor(list(text.encode()), dtype=torch.uint8)


def _text(t: torch.Tensor) -> str:
    return bytes(t.tolist()).decode()


def _spec(pool: DistilledSet, data: RealData, opts: ClipSelectOptions, seed: int) -> dict:
    """Everything the embeddings depend on: the pool's pixels, the encoder and the text side."""
    pixels = hashlib.sha256(pool.images.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()
    spec = {"pool": pixels, "source": encoder_source(opts), "model": opts.model, "quickgelu": opts.quickgelu,
            "templates": opts.templates, "class_names": opts.class_names or list(data.class_names), "code": CODE_VERSION}
    if opts.precision != "fp32":  # fp32 embeddings keep the key they had before the option existed
        spec["precision"] = opts.precision
    if opts.weights:
        path = Path(opts.weights).expanduser()
        spec["weights"] = (str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else opts.weights
    if spec["source"] == "fitted":
        spec.update(data=data.fingerprint(), fit_epochs=opts.fit_epochs, seed=seed)
    if opts.model.startswith("local-dir:"):
        folder = Path(opts.model[len("local-dir:"):]).expanduser()
        spec["folder"] = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.glob("*") if p.is_file())
    for key in ("templates", "class_names"):  # a user file: its content, not its name
        value = getattr(opts, key)
        if value and Path(value).expanduser().is_file():
            spec[key] = Path(value).expanduser().read_text()
    return spec
