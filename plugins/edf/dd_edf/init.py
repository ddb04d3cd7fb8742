"""Initial synthetic images and soft labels (DATM's ``samples_predicted_correctly``).

For each class, real images are scanned in random order and the first ``per_class`` that the
final-epoch of expert 0 classifies correctly are taken; when a class lacks enough, further
experts are asked, and the remainder are random real images of the class (logged). Each
image's soft label is the mean of the final-epoch logits of every expert that classifies it
correctly (all experts' mean when none does).
"""

from __future__ import annotations

import logging

import torch

from .flat import FlatModel


@torch.no_grad()
def final_logits(fmodel: FlatModel, trajectories: list, images: torch.Tensor, device) -> torch.Tensor:
    """E × N × K logits of every expert's final epoch."""
    out = []
    for traj in trajectories:
        theta = traj[-1].to(device)
        out.append(torch.cat([fmodel(b.to(device), theta).cpu() for b in images.split(512)]))
    return torch.stack(out)


def initial_set(data, per_class: int, fmodel: FlatModel, trajectories: list, how: str,
                generator: torch.Generator, device, log=logging.getLogger("ddcore.edf").info) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(real indices, images, classes, label logits) for ``per_class`` images of every class."""
    chosen, fallbacks = [], 0
    for c in range(data.num_classes):
        idx = data.class_indices(c)
        idx = idx[torch.randperm(len(idx), generator=generator)]
        if len(idx) < per_class:
            from ddcore import ConfigError

            raise ConfigError(f"class {data.class_names[c]!r} has {len(idx)} real images but EDF needs {per_class}; lower --ipc or --pool-factor.")
        if how == "real":
            chosen.append(idx[:per_class])
            continue
        correct = final_logits(fmodel, trajectories, data.images_of("train", idx), device).argmax(2) == c  # E × n
        picked: list[int] = []
        for e in range(len(trajectories)):
            for j in torch.nonzero(correct[e]).flatten().tolist():
                if j not in picked:
                    picked.append(j)
                if len(picked) == per_class:
                    break
            if len(picked) == per_class:
                break
        if len(picked) < per_class:
            rest = [j for j in range(len(idx)) if j not in picked][: per_class - len(picked)]
            fallbacks += len(rest)
            picked += rest
        chosen.append(idx[torch.tensor(picked)])
    index = torch.cat(chosen)
    images = data.images_of("train", index).clone()
    classes = data.train_labels[index].clone()
    logits = final_logits(fmodel, trajectories, images, device)  # E × N × K
    right = (logits.argmax(2) == classes.view(1, -1)).float()  # E × N
    weight = torch.where(right.sum(0, keepdim=True) > 0, right, torch.ones_like(right))
    labels = (logits * weight.unsqueeze(2)).sum(0) / weight.sum(0).unsqueeze(1)
    if fallbacks:
        log(f"{fallbacks} initial images are random real ones: no expert classified enough of their class correctly")
    return index, images, classes, labels
