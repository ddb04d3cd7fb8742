"""Tiny plugin settings shared by the plugin tests (and the runs that stack plugins): small
networks, few epochs and iterations, so each test takes seconds on a CPU.

A module with its own name rather than ``conftest``: pytest keeps only one module called
``conftest`` importable at a time, so ``from conftest import ...`` can pick another folder's.
"""

EDF_TINY = {
    "expert_model": "convnet-w16", "num_experts": 2, "expert_train_epochs": 4, "max_start_epoch": 2,
    "current_max_start_epoch": 1, "iterations": 6, "syn_steps": 5, "checkpoint_every": 2, "lr_img": 10.0,
    "dae_interval": 2, "cam_model": "convnet-w16", "cam_epochs": 1,
}

DETECTOR_REFINE_TINY = {
    "gen_width": 8, "gen_vae_epochs": 1, "gen_unet_epochs": 2, "steps": 4, "candidates": 3, "top_k": 2,
    "detector_model": "convnet-w16", "detector_epochs": 2, "batch_size": 32,
}
