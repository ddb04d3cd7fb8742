"""The trajectory-matching engine (MTT → DATM), calling ddcore's loss-weighting hooks.

One outer iteration (MTT eq. 1–3 with DATM's additions):

1. draw a start epoch s (DATM: uniform on [T_min, UB(it)), UB growing linearly from T_cur to
   T_max by iteration E_exp; MTT: uniform on [T_min, T_max)) and an expert;
2. from θ̂_0 = θ*_s take N SGD steps on DSA-augmented synthetic minibatches,
   θ̂_{n+1} = θ̂_n − α ∇ CE(f(DSA(X_B); θ̂_n), Y_B) (soft CE against softmax(Y) for DATM, hard
   labels for MTT), differentiably: the whole graph, or in constant memory (``unroll.py``);
3. per-parameter terms e_i = (θ̂_N − θ*_{s+M})², d_i = (θ*_s − θ*_{s+M})²; the loss is
   Σ w e / Σ w d with w from every active plugin's ``weight_matching_terms`` (CPD here);
4. backward to X, α and Y; X's gradient goes through every ``weight_pixel_gradients`` (DAE);
5. DATM's gate: the three SGD optimisers (momenta 0.5, 0.5, 0.9) step only if L ≤ threshold.

``edf.trajectories_per_iteration = K`` matches K segments per iteration, slot k drawing from seeds
of (iteration, k); the loss and gradients are their mean, the gate reads the mean loss and the
pixel-gradient hooks (DAE) see the mean gradient. Under torchrun the work is split two ways:
with K set, rank r runs the slots k ≡ r (mod W); unset, each minibatch of the one segment is
split across the ranks (``unroll.py``). Gradients are all-reduced before the hooks and the gate,
so every rank takes the same step and ends with the same set.
"""

from __future__ import annotations

import functools
import logging
import math
import time

import torch

from ddcore import (
    DSAParams, DistilledSet, Draws, MatchingTerms, PixelGradients, PluginError, all_reduce_, build_model, derive_seed, dsa,
)

from .experts import ExpertSettings, load_or_train_experts
from .flat import FlatModel
from .init import initial_set
from .learnables import Learnables
from .unroll import choose_mode, device_bytes, step_graph_bytes, unroll

STAGE = "edf"


def start_epoch_bounds(opts, iteration: int) -> tuple[int, int]:
    """[low, high) of the start epoch at ``iteration``."""
    if opts.method == "mtt":
        return opts.min_start_epoch, opts.max_start_epoch
    end = opts.expansion_end or max(1, opts.iterations // 2)
    cur = min(opts.current_max_start_epoch, opts.max_start_epoch)
    upper = min(opts.max_start_epoch, cur + math.floor((opts.max_start_epoch - cur) * iteration / end))
    return opts.min_start_epoch, max(opts.min_start_epoch + 1, upper)


def unroll_mode(opts, fmodel, theta, x, y, step_size, batch: int, soft: bool, device, log, dist=None) -> str:
    """``edf.unroll``, with ``auto`` resolved by measuring one step's graph (this rank's share) against
    the device's memory."""
    if opts.unroll != "auto":
        return opts.unroll
    per_step = step_graph_bytes(fmodel, theta, x, y, step_size, batch, soft, dist=dist)
    mode, why = choose_mode(per_step, opts.syn_steps, device_bytes(device))
    log(why)
    return mode


def expert_settings(opts) -> ExpertSettings:
    """The experts a run with these ``edf.*`` options matches against (what they are cached under)."""
    return ExpertSettings(model=opts.expert_model, epochs=opts.expert_train_epochs, lr=opts.lr_teacher,
                          batch_size=opts.expert_batch, sam_rho=opts.expert_sam_rho, precision=opts.expert_precision,
                          dsa_crop_ratio=opts.expert_dsa_crop_ratio, dsa_align_corners=opts.expert_dsa_align_corners,
                          sam_alpha=opts.expert_gsam_alpha, sam_adaptive=opts.expert_sam_adaptive)


def slot_generators(seed: int, iteration: int, slot: int, device) -> tuple[torch.Generator, Draws]:
    """Slot ``slot`` of ``iteration`` draws its start epoch, expert, batches and augmentations from
    seeds of its own, so it draws the same wherever (on whichever rank) it runs."""
    g_start = torch.Generator().manual_seed(derive_seed(seed, STAGE, "slot-start", iteration, slot))
    return g_start, Draws.seeded(derive_seed(seed, STAGE, "slot-unroll", iteration, slot), device)


def expert_index(opts, seed: int, draw: int, count: int, gen_start: torch.Generator) -> int:
    """The expert of the run's ``draw``-th segment. With replacement: drawn from ``gen_start``.
    Without (MTT/DATM/EDF's code): draw d is position d mod n of pass d // n, each pass its own
    shuffle of the n experts, so every expert is used once per pass; a function of d alone, so a
    resumed run and every rank agree."""
    if opts.expert_sampling == "with_replacement":
        return int(torch.randint(count, (1,), generator=gen_start))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(derive_seed(seed, STAGE, "expert-pass", draw // count)))
    return int(order[draw % count])


def parallel_note(slots: int | None, dist) -> str:
    """How the iteration's work is split, for the log and the manifest."""
    if slots is not None:
        where = f" over {dist.world_size} processes" if dist.active else ""
        return f"; {slots} trajectories per iteration{where}"
    return f"; each minibatch split over {dist.world_size} processes" if dist.active else ""


def expert_channels_last(opts, device: torch.device) -> bool:
    """``expert_channels_last``, or when unset what evaluation does: channels-last for bf16 on a GPU."""
    if opts.expert_channels_last is not None:
        return opts.expert_channels_last
    return device.type == "cuda" and opts.expert_precision == "bf16"


def distill(ctx, data, per_class: int) -> DistilledSet:
    """The ``edf`` stage: experts (cached), initial set, then ``iterations`` outer steps."""
    opts = ctx.options_for(STAGE)
    device = ctx.device
    trajectories = load_or_train_experts(ctx.cache, data, expert_settings(opts), opts.num_experts, ctx.seed, device, ctx.log, ctx.quiet,
                                         batched=opts.experts_batched, compile=opts.expert_compile,
                                         channels_last=expert_channels_last(opts, device), dist=ctx.dist)
    net = build_model(opts.expert_model, data.image_shape[0], data.num_classes, data.image_shape[1:]).to(device)
    for p in net.parameters():
        p.requires_grad_(False)
    fmodel = FlatModel(net)

    init = opts.init if opts.method == "datm" else "real"
    real_index, images, classes, logits = initial_set(data, per_class, fmodel, trajectories, init, ctx.generator("init"), device, ctx.log)
    soft = opts.soft_labels
    learn = Learnables(images, classes, logits, soft, opts, device)
    x, y, step_size = learn.images, learn.labels, learn.step_size

    start, skipped_run, skipped_total = 0, 0, 0
    resumed = ctx.resume_state()
    if resumed is not None:
        state, start, meta = resumed
        learn.restore(state)
        skipped_run, skipped_total = int(meta.get("skipped_run", 0)), int(meta.get("skipped_total", 0))
        ctx.log(f"resumed at iteration {start}")

    g_start = ctx.generator("start-epoch")
    # batch orders and per-image DSA draws where the images are (no host copies on a GPU); on a CPU one generator
    g_batch = Draws(ctx.generator("unroll"), ctx.generator("unroll", device) if device.type != "cpu" else None)
    batch = opts.batch_syn or len(x)
    slots = opts.trajectories_per_iteration
    split = ctx.dist if slots is None else None  # one trajectory: every rank takes a share of each minibatch
    if split is not None and split.active and batch < split.world_size:
        raise PluginError(STAGE, f"batch_syn {batch} is smaller than the {split.world_size} processes that share each "
                                 "minibatch; raise edf.batch_syn or set edf.trajectories_per_iteration.")
    augment = functools.partial(dsa, params=DSAParams(crop_ratio=opts.dsa_crop_ratio, align_corners=opts.dsa_align_corners))
    mode = unroll_mode(opts, fmodel, trajectories[0][0].to(device), x, y, step_size, batch, soft, device, ctx.log, split)
    ctx.log(f"{opts.method} matching: {len(x)} images, {opts.iterations} iterations × {opts.syn_steps} steps ({mode} unroll), "
            f"P = {fmodel.num_parameters} parameters, CPD ρ = {opts.cpd_ratio}, DAE {'on' if opts.dae else 'off'}"
            + parallel_note(slots, ctx.dist))
    learnable = [x, step_size] + ([y] if y.requires_grad else [])

    def match(it: int, draw: int, gen_start, gen_batch, dist) -> torch.Tensor:
        """One expert segment's matching loss (MTT eq. 1–3 with the active weights); ``draw`` counts segments."""
        low, high = start_epoch_bounds(opts, it)
        s = int(torch.randint(low, high, (1,), generator=gen_start))
        e = expert_index(opts, ctx.seed, draw, len(trajectories), gen_start)
        traj = trajectories[e]
        theta_s, theta_t = traj.on(s, device), traj.on(s + opts.expert_epochs, device)
        student = theta_s.clone().requires_grad_(True)
        theta_n = unroll(fmodel, student, x, y, step_size, opts.syn_steps, batch, gen_batch, soft, mode, augment=augment,
                         precision=opts.unroll_precision, dist=dist)
        terms = MatchingTerms(numerator=(theta_n - theta_t) ** 2, denominator=(theta_s - theta_t) ** 2, iteration=it,
                              info={"start_epoch": s, "expert": e})
        return ctx.matching_loss(terms)

    bar = ctx.progress(range(start, opts.iterations), total=opts.iterations - start, desc="edf")
    for it in bar:
        tick = time.perf_counter()
        learn.zero_grad()
        if slots is None:
            loss = match(it, it, g_start, g_batch, split)
            loss.backward()
            all_reduce_([t.grad for t in (x, y) if t.requires_grad], ctx.dist)  # each rank's rows of the minibatches
            loss = loss.detach()
        else:
            loss = torch.zeros((), device=device)
            for t in learnable:
                t.grad = torch.zeros_like(t)
            for k in ctx.dist.mine(slots):  # slot k draws from its own seeds, wherever it runs
                gen_start, gen_batch = slot_generators(ctx.seed, it, k, device)
                part = match(it, it * slots + k, gen_start, gen_batch, None) / slots
                part.backward()
                loss += part.detach()
            all_reduce_([*(t.grad for t in learnable), loss], ctx.dist)  # the mean over all K slots
        weighted = ctx.weight_pixel_gradients(PixelGradients(grad=x.grad, images=x.detach(), labels=y.detach(), iteration=it))
        x.grad = weighted.detach()
        value, lr_now = torch.stack([loss, step_size.detach().reshape(())]).tolist()  # the iteration's one host sync
        gated = opts.method == "datm" and not value <= opts.threshold
        if not math.isfinite(value) or gated:
            skipped_run += 1
            skipped_total += 1
            if skipped_run >= opts.max_skipped:
                raise PluginError(STAGE, f"the last {skipped_run} iterations were all skipped (matching loss {value:.3g} > gate "
                                  f"{opts.threshold}); lower edf.lr_img or raise edf.threshold.")
        else:
            skipped_run = 0
            learn.step()
        ctx.record("loss", value, it)
        ctx.record("step_size", step_size.detach().clone(), it)  # read back when metrics are flushed
        ctx.record("skipped", float(skipped_run > 0), it)
        ctx.record("seconds", time.perf_counter() - tick, it)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr_now:.4f}", skipped=skipped_total)
        if (it + 1) % opts.checkpoint_every == 0 and it + 1 < opts.iterations:
            ctx.checkpoint(learn.state(), it + 1, {"skipped_run": skipped_run, "skipped_total": skipped_total})
    ctx.log(f"done: {skipped_total} of {opts.iterations} iterations skipped by the gate; learned step size {float(step_size.detach()):.5f}")
    if not (torch.isfinite(x).all() and torch.isfinite(step_size)):
        raise PluginError(STAGE, "the distilled images or the step size are no longer finite numbers; lower edf.lr_img "
                                 "(or edf.lr_lr) and run again.")
    warnings = []
    if skipped_total * 2 > opts.iterations:
        warnings.append(f"EDF skipped {skipped_total} of {opts.iterations} iterations (matching loss above the gate {opts.threshold}): "
                        "the set barely moved from its initialisation or moved erratically; lower edf.lr_img")
    real_range = float(data.images_of("train", torch.arange(min(256, len(data.train_labels)))).abs().max())
    if float(x.detach().abs().max()) > 100 * real_range:
        warnings.append(f"EDF's images reach {float(x.detach().abs().max()):.3g}, over 100× the real images' largest value "
                        f"({real_range:.3g}): the updates diverged; lower edf.lr_img")
    for warning in warnings:
        logging.getLogger("ddcore.edf").warning("dd: warning: %s", warning)
    return DistilledSet.from_real(
        data, images=x.detach().cpu(), classes=classes,
        soft_labels=y.detach().cpu().float() if soft else None, lr=float(step_size.detach()),
        columns={"init_real_index": real_index},
        facts={"edf": {"skipped_iterations": skipped_total, "learned_step_size": float(step_size.detach()),
                       "experts": len(trajectories), "parameters": fmodel.num_parameters, "unroll": mode,
                       "parallel": parallel_note(slots, ctx.dist).strip("; ") or "one process", "warnings": warnings}},
    )
