"""Image prototypes (D4M): k-means centroids of each class's real images in the generator's latent space.

    z = s·E(x) for every training image of class c;  μ_{c,1..n} = KMeans(n).fit(z).cluster_centers_

The centroids are already scaled latents, so they enter img2img directly. Cached per data,
generator, cluster count and seed (encoding a whole class with Stable Diffusion's VAE is slow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ddcore import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import RealData, RunContext

    from .generator import DiffusionGenerator

CACHE_KIND = "detector_refine-prototypes"
CODE_VERSION = 1


def prototype_spec(data: RealData, generator: DiffusionGenerator, per_class: int, seed: int, n_init: int) -> dict:
    return {"data": data.fingerprint(), "generator": generator.identity, "per_class": per_class, "seed": seed,
            "n_init": n_init, "code": CODE_VERSION}


def class_prototypes(ctx: RunContext, data: RealData, generator: DiffusionGenerator, per_class: int, n_init: int) -> torch.Tensor:
    """(classes, per_class, 4, h, w) latent prototypes; computed once and cached."""
    spec = prototype_spec(data, generator, per_class, ctx.seed, n_init)
    found = ctx.cache.load(CACHE_KIND, spec)
    if found is not None:
        return found["prototypes"]
    from sklearn.cluster import KMeans

    from ddcore import derive_seed

    short = [data.class_names[c] for c in range(data.num_classes) if len(data.class_indices(c)) < per_class]
    if short:
        raise ConfigError(f"class {short[0]!r} has fewer real images than the {per_class} prototypes asked for; "
                          "lower --ipc or --pool-factor.")
    protos = []
    for c in ctx.progress(range(data.num_classes), desc="prototypes (encode + k-means)"):
        z = generator.encode(data.denormalize(data.images_of("train", data.class_indices(c))))
        km = KMeans(n_clusters=per_class, n_init=n_init, random_state=derive_seed(ctx.seed, "kmeans", c) % (2**31))
        km.fit(z.flatten(1).double().numpy())
        protos.append(torch.tensor(km.cluster_centers_, dtype=torch.float32).view(per_class, *z.shape[1:]))
    out = torch.stack(protos)
    ctx.cache.save(CACHE_KIND, spec, {"prototypes": out})
    return out
