"""EDF's tiny test settings, for runs that stack detector_refine after EDF."""

EDF_TINY = {
    "expert_model": "convnet-w16", "num_experts": 2, "expert_train_epochs": 4, "max_start_epoch": 2,
    "current_max_start_epoch": 1, "iterations": 6, "syn_steps": 5, "checkpoint_every": 2, "lr_img": 10.0,
    "dae_interval": 2, "cam_model": "convnet-w16", "cam_epochs": 1,
}
