"""Detector-guided refinement: regenerate each anomalous image from its own prototype and keep
the candidate that is both trusted by the detector and unlike the class's qualified images.

Per round, every still-anomalous image gets K candidates from the same prototype and label with
fresh seeds (generated in batches); then, class by class in prototype order, ``choose_candidate``
picks one and the accepted image joins the class's qualified set Q_c, so later replacements are
pushed away from it too. After R rounds an image with no valid candidate falls back to its most
confident candidate when that beats the image (``fallback=most_confident``) or stays.

The prototype of an image our synthesizer made is its k-means centroid (cached); after any
other synthesizer (EDF, real images) it is the image's own latent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .anomaly import anomaly_columns, label_confidence
from .selection import choose_candidate, dissimilarity

if TYPE_CHECKING:  # pragma: no cover
    from ddcore import DistilledSet, RealData, RunContext


@dataclass
class Outcome:
    """What refinement did to each image (becomes the pool's columns and the report)."""

    replaced: torch.Tensor  # uint8 (N,): 1 accepted valid candidate, 2 fallback candidate
    round: torch.Tensor  # int64 (N,): the round whose candidate replaced the image; 0 = untouched
    rounds_run: int = 0
    candidates_made: int = 0
    per_round: list[dict] = field(default_factory=list)

    @classmethod
    def untouched(cls, n: int) -> Outcome:
        return cls(replaced=torch.zeros(n, dtype=torch.uint8), round=torch.zeros(n, dtype=torch.long))


def image_prototypes(ctx: RunContext, pool: DistilledSet, data: RealData, generator, opts) -> tuple[torch.Tensor, str]:
    """The latent each image is regenerated from, and where it came from."""
    from .prototypes import CACHE_KIND

    spec = (pool.facts.get("detector_refine") or {}).get("prototypes")
    if spec and "prototype" in pool.columns and spec.get("generator") == generator.identity:
        found = ctx.cache.load(CACHE_KIND, spec)
        if found is not None:
            protos = found["prototypes"]
            return protos[pool.classes, pool.columns["prototype"].long()], "k-means prototypes of the synthesis stage"
    return generator.encode(data.denormalize(pool.images)), "each image's own latent (the pool was not made from prototypes)"


def refine(ctx: RunContext, pool: DistilledSet, data: RealData, detector, generator, opts,
           latents: torch.Tensor, anomalous: torch.Tensor) -> tuple[torch.Tensor, Outcome]:
    """The refined images (dataset space) and what happened to each."""
    from ddcore import derive_seed

    from .synthesis import generate

    images = pool.images.clone()
    outcome = Outcome.untouched(len(pool))
    features = detector.features(images)
    qualified = ~anomalous.bool()
    conf_now = pool.columns["detector_confidence"].clone()  # the scorer's p(c|x), updated as images are replaced
    best = {}  # image index -> (confidence, image) of its most confident candidate so far
    todo = torch.nonzero(anomalous.bool(), as_tuple=False).flatten().tolist()
    first = 1
    resumed = ctx.resume_state()  # a checkpoint after every round: a killed refinement loses at most one
    if resumed is not None:
        state, done, meta = resumed
        images, features, qualified, conf_now = state["images"], state["features"], state["qualified"], state["conf_now"]
        outcome = Outcome(state["replaced"], state["round"], meta["rounds_run"], meta["candidates_made"], meta["per_round"])
        best = {i: (c, x) for i, c, x in zip(state["best_index"].tolist(), state["best_conf"].tolist(), state["best_image"])}
        todo, first = meta["todo"], done + 1
        ctx.log(f"resumed after round {done}")
    for r in range(first, opts.rounds + 1):
        if not todo:
            break
        outcome.rounds_run = r
        k = opts.candidates
        idx = torch.tensor(todo).repeat_interleave(k)
        seeds = [derive_seed(ctx.seed, "refine", r, i, m) for i in todo for m in range(k)]
        cand = data.normalize(generate(ctx, generator, latents[idx], pool.classes[idx], seeds, opts,
                                       f"refinement round {r}: {len(todo)} images × {k} candidates"))
        outcome.candidates_made += len(cand)
        probs, feats = detector.probabilities(cand), detector.features(cand)
        conf, agrees = label_confidence(probs, pool.classes[idx])
        valid = agrees & (conf >= opts.beta)
        accepted = []
        for pos, i in sorted(enumerate(todo), key=lambda t: (int(pool.classes[t[1]]), t[1])):
            rows = slice(pos * k, (pos + 1) * k)
            same_class = qualified & (pool.classes == pool.classes[i])
            div = dissimilarity(feats[rows], features[same_class])
            choice = choose_candidate(conf[rows], valid[rows], div, opts.selection, opts.top_k, opts.diversity_weight)
            top = int(conf[rows].argmax())
            if i not in best or conf[rows][top] > best[i][0]:
                best[i] = (float(conf[rows][top]), cand[rows][top])
            if choice is None:
                continue
            j = pos * k + choice
            images[i], features[i] = cand[j], feats[j]
            qualified[i] = True
            conf_now[i] = conf[j]
            outcome.replaced[i], outcome.round[i] = 1, r
            accepted.append(i)
        todo = [i for i in todo if i not in set(accepted)]
        outcome.per_round.append({"round": r, "regenerated": len(idx) // k, "accepted": len(accepted), "still_anomalous": len(todo)})
        ctx.log(f"round {r}: {len(accepted)} of {len(idx) // k} anomalous images replaced by a valid candidate; {len(todo)} left")
        kept = sorted(best)
        ctx.checkpoint({"images": images, "features": features, "qualified": qualified, "conf_now": conf_now,
                        "replaced": outcome.replaced, "round": outcome.round, "best_index": torch.tensor(kept, dtype=torch.long),
                        "best_conf": torch.tensor([best[i][0] for i in kept]),
                        "best_image": torch.stack([best[i][1] for i in kept]) if kept else images[:0]},
                       r, {"todo": todo, "rounds_run": outcome.rounds_run, "candidates_made": outcome.candidates_made,
                           "per_round": outcome.per_round})
    if opts.fallback == "most_confident":
        for i in todo:
            if i in best and best[i][0] > float(conf_now[i]):
                images[i] = best[i][1]
                outcome.replaced[i], outcome.round[i] = 2, outcome.rounds_run
    return images, outcome


def refine_pool(ctx: RunContext, pool: DistilledSet, data: RealData) -> DistilledSet:
    """The pool with its anomalous images regenerated, and columns/facts saying what happened."""
    from .detector import load_detector
    from .generator import load_generator

    opts = ctx.options_for("detector_refine")
    if "anomalous" not in pool.columns:
        pool = ctx.score("detector_refine", pool, data)
    anomalous = pool.columns["anomalous"].bool()
    before = {"detector_confidence_before": pool.columns["detector_confidence"], "anomalous_before": pool.columns["anomalous"]}
    detector = load_detector(ctx, data, opts)
    if opts.rounds == 0 or not anomalous.any():
        ctx.log("nothing to regenerate" + (" (rounds = 0)" if opts.rounds == 0 else ": no image is anomalous"))
        outcome = Outcome.untouched(len(pool))
        images, generator_description, source = pool.images, "not loaded (nothing to regenerate)", "-"
    else:
        generator = load_generator(ctx, data, opts)
        ctx.log(f"generator: {generator.description}; guidance w = {generator.guidance(opts)}")
        latents, source = image_prototypes(ctx, pool, data, generator, opts)
        ctx.log(f"regenerating from {source}")
        images, outcome = refine(ctx, pool, data, detector, generator, opts, latents, anomalous)
        generator_description = generator.description
    after = anomaly_columns(detector.probabilities(images), pool.classes, opts.beta)
    per_class = [
        {"class": name, "anomalous_before": int(before["anomalous_before"][pool.classes == c].sum()),
         "anomalous_after": int(after["anomalous"][pool.classes == c].sum()),
         "replaced": int((outcome.replaced[pool.classes == c] > 0).sum()), "images": int((pool.classes == c).sum())}
        for c, name in enumerate(pool.class_names)
    ]
    ctx.log(f"anomalous images: {int(anomalous.sum())} before, {int(after['anomalous'].sum())} after; "
            f"{int((outcome.replaced > 0).sum())} replaced in {outcome.rounds_run} round(s)")
    facts = {**pool.facts, "detector_refine": {
        **(pool.facts.get("detector_refine") or {}),
        "generator": generator_description, "detector": detector.description, "detector_test_accuracy": detector.test_accuracy,
        "prototype_source": source, "rounds_run": outcome.rounds_run, "candidates_made": outcome.candidates_made,
        "rounds": outcome.per_round, "per_class": per_class,
    }}
    out = pool.with_columns(**before, **after, replaced=outcome.replaced, refine_round=outcome.round)
    out.images, out.facts = images, facts
    return out
