"""EDF's options (stage ``edf``), with presets: shipped TOML files of option values.

The defaults are the ``digits-ipc10`` preset (the embedded default dataset), so ``dd run
--plugins edf`` works out of the box on a CPU; the paper's settings come from presets.

A preset fills every option the user did not set; ``-o edf.key=value`` always wins. The
resolved values (and the preset's name) land in the artifact's manifest. Imports no torch.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any, Literal

from pydantic import Field, model_validator

from ddcore import ModelName, Options


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("dd_edf.presets").iterdir() if p.name.endswith(".toml"))


def read_preset(name: str) -> dict[str, Any]:
    """The preset's table: ``description``, ``dataset``, ``ipc``, ``[edf]`` option values and the
    ``[eval]`` options it implies."""
    path = resources.files("dd_edf.presets") / f"{name}.toml"
    if not path.is_file():
        import difflib

        close = difflib.get_close_matches(name, preset_names(), n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"no EDF preset {name!r}{hint}; `dd edf presets` lists them")
    return tomllib.loads(path.read_text())


class EdfOptions(Options):
    preset: str | None = Field(None, description="fill unset options from a shipped preset (`dd edf presets`); also --preset")
    method: Literal["datm", "mtt"] = Field(
        "datm", description="datm: soft labels, growing start window, loss gate; mtt: hard labels, fixed window, no gate")
    # CPD and DAE (EDF's additions)
    cpd_ratio: float = Field(0.25, ge=0, lt=1, description="Common Pattern Dropout: drop this fraction of lowest-error parameters (0 = DATM)")
    dae: bool = Field(True, description="Discriminative Area Enhancement: weight pixel gradients by Grad-CAM maps")
    dae_beta: float = Field(1.0, ge=0, description="DAE: weight = CAM + beta where CAM ≥ threshold, else 1")
    dae_threshold: float | None = Field(None, ge=0, le=1, description="DAE: fixed CAM threshold; unset = each map's mean")
    dae_interval: int = Field(100, ge=1, description="DAE: refresh the CAM maps every N iterations")
    cam_model: ModelName = Field("convnet", description="DAE: the CAM network, trained on the real data and cached")
    cam_epochs: int = Field(30, ge=1, description="DAE: training epochs of the CAM network")
    cam_weights: str | None = Field(None, description="DAE: a local file of cam_model's weights trained on ImageNet-1k (safetensors, "
                                                      "or a torch file read weights-only), as EDF's code; ImageNet subsets and Comp-DD only")
    cam_layer: int | Literal["deepest", "last_pool"] | None = Field(
        None, description="DAE: index into a ConvNet's features, deepest (the deepest ReLU map larger than 1×1; also when unset) "
                          "or last_pool (the last pooling layer, as EDF's code)")
    cam_method: Literal["gradcam", "gradcam++", "smoothgradcam++"] = Field(
        "gradcam", description="DAE's class activation maps: Grad-CAM, Grad-CAM++, or SmoothGrad-CAM++ (EDF's code: 4 noisy "
                               "copies, noise std 0.3)")
    # expert trajectories
    expert_model: ModelName = Field("convnet", description="architecture of experts and of the student in the unroll")
    num_experts: int = Field(5, ge=1, description="expert trajectories trained on the real data (cached)")
    expert_train_epochs: int = Field(20, ge=1, description="epochs each expert trains; needs ≥ max_start_epoch + expert_epochs")
    lr_teacher: float = Field(0.05, gt=0, description="experts' SGD learning rate; also the initial learnable step size")
    expert_batch: int = Field(128, ge=1, description="experts' minibatch size")
    expert_sam_rho: float = Field(0.0, ge=0, description="sharpness-aware expert training (SAM radius); 0 = plain SGD as in MTT")
    expert_gsam_alpha: float = Field(0.0, ge=0, description="with expert_sam_rho > 0: GSAM's α (EDF's buffers: 0.3); 0 = SAM")
    expert_sam_adaptive: bool = Field(False, description="scale the SAM/GSAM perturbation by |w| (EDF's buffers: adaptive GSAM)")
    expert_dsa_crop_ratio: float = Field(0.125, ge=0, le=0.5, description="experts' DSA crop: shift by up to this fraction of the side")
    expert_dsa_align_corners: bool = Field(False, description="experts' DSA scale/rotate grids with align_corners=True (the official code)")
    expert_precision: Literal["fp32", "bf16"] = Field("fp32", description="experts' forward passes: fp32, or bf16 autocast (GPU)")
    experts_batched: bool | None = Field(None, description="train missing experts together (vmap, up to 10 at a time); "
                                                           "unset = together on a GPU, one after another on a CPU")
    expert_compile: bool = Field(False, description="run each expert's network through torch.compile (one after another only)")
    expert_channels_last: bool | None = Field(None, description="store experts and their batches channels-last (one after another only); "
                                              "unset: on for bf16 on a GPU, as eval.channels_last")
    # matching engine
    iterations: int = Field(300, ge=1, description="outer distillation iterations")
    syn_steps: int = Field(20, ge=1, description="N: inner SGD steps of the student on the synthetic images")
    expert_epochs: int = Field(2, ge=1, description="M: the target is the expert M epochs after the start epoch")
    min_start_epoch: int = Field(0, ge=0, description="T_min: lowest start epoch")
    current_max_start_epoch: int = Field(5, ge=1, description="T_cur: initial upper bound of the start window (datm)")
    max_start_epoch: int = Field(10, ge=1, description="T_max: final upper bound of the start window")
    expansion_end: int | None = Field(None, ge=1, description="E_exp: iteration at which the window reaches T_max; unset = iterations/2")
    expert_sampling: Literal["with_replacement", "without_replacement"] = Field(
        "with_replacement", description="which expert a segment comes from: drawn at random each time, or as the official code "
                                        "does, a shuffled pass over all experts, reshuffled after each pass")
    batch_syn: int | None = Field(None, ge=1, description="synthetic images per inner step; unset = all")
    dsa_crop_ratio: float = Field(0.125, ge=0, le=0.5, description="DSA crop in the unroll: shift by up to this fraction of the side "
                                                                   "(the official EDF code on digits: ±2 px, 0.25)")
    dsa_align_corners: bool = Field(False, description="DSA scale/rotate grids in the unroll with align_corners=True (the official code)")
    trajectories_per_iteration: int | None = Field(
        None, ge=1, description="K expert segments matched per outer iteration, their gradients averaged (torchrun: "
                                "split across the ranks); unset = one, and torchrun splits each minibatch instead")
    unroll: Literal["auto", "full", "checkpoint", "tesla"] = Field(
        "auto", description="full: keep the graph of every inner step; checkpoint: the same gradient in memory independent "
                            "of syn_steps (each step runs twice); tesla: TESLA's constant-memory approximation; "
                            "auto: full while its graph fits in half the device's memory, else checkpoint")
    unroll_precision: Literal["fp32", "bf16"] = Field("fp32", description="the student's forward passes in the unroll: fp32, "
                                                                       "or bf16 autocast (faster on a GPU, less exact)")
    lr_img: float = Field(100.0, gt=0, description="SGD learning rate of the images (momentum 0.5)")
    lr_lr: float = Field(1e-6, ge=0, description="SGD learning rate of the step size (momentum 0.5)")
    lr_y: float = Field(1.0, ge=0, description="SGD learning rate of the soft labels (momentum 0.9)")
    threshold: float = Field(1.0, gt=0, description="loss gate (datm): skip the update when the matching loss exceeds this")
    init: Literal["correct", "real"] = Field("correct", description="correct: real images the experts classify correctly (datm); real: random real")
    checkpoint_every: int = Field(50, ge=1, description="save progress every N iterations (dd run --resume continues)")
    max_skipped: int = Field(100, ge=1, description="stop with an error after this many consecutive gated (skipped) iterations")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, values: Any) -> Any:
        if not isinstance(values, dict) or not values.get("preset"):
            return values
        preset = read_preset(values["preset"]).get("edf", {})
        return {**preset, **values}

    @model_validator(mode="after")
    def _consistent(self) -> "EdfOptions":
        if self.min_start_epoch >= self.max_start_epoch:
            raise ValueError("min_start_epoch must be below max_start_epoch")
        if isinstance(self.cam_layer, int) and self.cam_layer < 0:
            raise ValueError("cam_layer must be a layer index ≥ 0, deepest or last_pool")
        if self.expert_train_epochs < self.max_start_epoch + self.expert_epochs:
            raise ValueError(
                f"expert_train_epochs ({self.expert_train_epochs}) must be ≥ max_start_epoch + expert_epochs "
                f"({self.max_start_epoch + self.expert_epochs})")
        return self

    def implied_options(self) -> dict[str, dict[str, Any]]:
        """A preset's ``[eval]`` table (e.g. the ConvNet-D5 it distils with) becomes the run's eval
        defaults; ``-o eval.key=value`` still wins."""
        return {"eval": read_preset(self.preset).get("eval", {})} if self.preset else {}

    @property
    def soft_labels(self) -> bool:
        return self.method == "datm"
