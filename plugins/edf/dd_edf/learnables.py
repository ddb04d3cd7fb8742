"""What the matching loop learns — images X, label logits Y, step size α — with their optimisers.

Each has its own SGD optimiser with the published momenta (X 0.5, α 0.5, Y 0.9); MTT mode has
hard labels and no Y optimiser. ``state()``/``restore()`` carry the tensors and the momentum
buffers through a checkpoint, so a resumed run continues exactly.
"""

from __future__ import annotations

import torch


class Learnables:
    def __init__(self, images: torch.Tensor, classes: torch.Tensor, logits: torch.Tensor, soft: bool, opts, device):
        self.soft = soft
        self.images = images.to(device).requires_grad_(True)
        self.labels = logits.to(device).requires_grad_(True) if soft else classes.to(device)
        self.step_size = torch.tensor(opts.lr_teacher, device=device).requires_grad_(True)
        self.optimizers = {
            "x": torch.optim.SGD([self.images], lr=opts.lr_img, momentum=0.5),
            "lr": torch.optim.SGD([self.step_size], lr=opts.lr_lr, momentum=0.5),
        }
        if soft:
            self.optimizers["y"] = torch.optim.SGD([self.labels], lr=opts.lr_y, momentum=0.9)

    def zero_grad(self) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for opt in self.optimizers.values():
            opt.step()

    def _param(self, name: str) -> torch.Tensor:
        return self.optimizers[name].param_groups[0]["params"][0]

    def state(self) -> dict[str, torch.Tensor]:
        state = {"images": self.images, "step_size": self.step_size, **({"labels": self.labels} if self.soft else {})}
        for name, opt in self.optimizers.items():
            buf = opt.state.get(self._param(name), {}).get("momentum_buffer")
            if buf is not None:
                state[f"momentum.{name}"] = buf
        return state

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        device = self.images.device
        with torch.no_grad():
            self.images.copy_(state["images"].to(device))
            self.step_size.copy_(state["step_size"].to(device))
            if self.soft:
                self.labels.copy_(state["labels"].to(device))
        for name, opt in self.optimizers.items():
            if f"momentum.{name}" in state:
                opt.state[self._param(name)]["momentum_buffer"] = state[f"momentum.{name}"].to(device)
