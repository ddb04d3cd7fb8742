"""Discriminative Area Enhancement (EDF §3.1): push the image gradient harder where the CAM fires.

Every ``interval`` iterations the current synthetic images get Grad-CAM maps A_j (a CAM network
trained on the real data; target class = argmax of image j's current soft label). The pixel
weight is W_j = A_j + β where A_j ≥ τ_j, else 1, with τ_j = mean(A_j) (or a fixed threshold);
the synthetic images' gradient is multiplied by W before the optimiser step.
"""

from __future__ import annotations

import torch

from .cam import class_activation_maps, default_cam_layer, last_pool_layer


def dae_weights(cam: torch.Tensor, beta: float, threshold: float | None = None) -> torch.Tensor:
    """N×1×H×W weights from N×H×W maps in [0, 1]."""
    tau = cam.flatten(1).mean(1).view(-1, 1, 1) if threshold is None else torch.full_like(cam[:, :1, :1], threshold)
    weights = torch.where(cam >= tau, cam + beta, torch.ones_like(cam))
    return weights.unsqueeze(1)


_LOADED: dict[tuple, tuple] = {}


def cam_network(ctx, opts):
    """The CAM network, the layer to explain, and the class index it explains for each of the run's
    classes (None: the run's own). Trained on the run's real data and cached, or with
    ``cam_weights`` a network trained on ImageNet-1k, read from a local file, as EDF's code uses."""
    from ddcore import TrainSettings, real_data_classifier

    data = ctx.data
    key = (str(ctx.cache.root), data.fingerprint(), opts.cam_model, opts.cam_epochs, opts.cam_layer, opts.cam_weights, ctx.seed,
           str(ctx.device))
    if key in _LOADED:
        return _LOADED[key]
    class_index = None
    if opts.cam_weights:
        net, class_index = pretrained_cam_network(opts.cam_model, opts.cam_weights, data, ctx.device)
        ctx.log(f"DAE: CAM network {opts.cam_model} from {opts.cam_weights}, explaining ImageNet classes {class_index.tolist()}")
    else:
        with ctx.dist.main_first():  # torchrun: rank 0 trains and caches it, the others load it
            net = real_data_classifier(ctx.cache, data, opts.cam_model, TrainSettings(epochs=opts.cam_epochs), ctx.seed,
                                       ctx.device, log=ctx.log, quiet=ctx.quiet)
    for p in net.parameters():
        p.requires_grad_(False)
    layer = opts.cam_layer
    if layer in (None, "deepest") and hasattr(net, "features"):
        layer = default_cam_layer(net, data.image_shape[1:])
    elif layer == "last_pool":
        layer = last_pool_layer(net, data.image_shape[1:])
    _LOADED[key] = (net, layer, class_index)
    return net, layer, class_index


def pretrained_cam_network(model: str, weights: str, data, device: torch.device):
    """(``model`` with 1000 outputs and ``weights`` loaded, the ImageNet index of each run class)."""
    from ddcore import ConfigError, build_model, load_weights

    from .subsets import imagenet_indices

    index = imagenet_indices(data.name)
    if index is None:
        raise ConfigError(f"edf.cam_weights explains ImageNet-1k classes, and {data.name!r} is not one of the ImageNet subsets "
                          "(imagenette…, comp-dd:…) whose classes map to them; drop edf.cam_weights to train the CAM network here.")
    net = build_model(model, data.image_shape[0], 1000, data.image_shape[1:])
    fix = "set edf.cam_model to the architecture they were saved from."
    try:
        load_weights(net, weights, "edf.cam_weights", f"a 1000-class {model}", fix)
    except ConfigError:
        if not hasattr(net, "model"):
            raise
        load_weights(net.model, weights, "edf.cam_weights", f"a 1000-class {model}", fix)  # a timm/torchvision file, unwrapped
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(device).eval(), torch.tensor(index)


def refresh_weights(net, layer, images: torch.Tensor, labels: torch.Tensor, beta: float, threshold: float | None,
                    batch_size: int = 256, method: str = "gradcam", generator: torch.Generator | None = None,
                    class_index: torch.Tensor | None = None) -> torch.Tensor:
    """DAE weights for the current images; the class is the argmax of soft labels (or the hard label).

    The CAM network was trained on this run's classes, so label index = CAM class index (the
    original code passed subset-local indices to a 1000-way ImageNet model; we do not).
    """
    targets = labels.argmax(1) if labels.dim() == 2 else labels
    if class_index is not None:  # an ImageNet-1k CAM network: run class c is its class class_index[c]
        targets = class_index.to(targets.device)[targets]
    maps = []
    for xb, tb in zip(images.split(batch_size), targets.split(batch_size)):
        maps.append(class_activation_maps(method, net, xb.detach(), tb, layer, generator).detach())
    return dae_weights(torch.cat(maps), beta, threshold)
