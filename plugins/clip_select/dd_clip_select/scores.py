"""The three semantic scores, on L2-normalised CLIP embeddings (our reconstruction of the paper's
"class relevance, inter-class separability, intra-set diversity"; research/clip_select.md §1.3).

    relevance      R_i = cos(v_i, t_{y_i})
    separability   S_i = cos(v_i, t_{y_i}) − max_{k ≠ y_i} cos(v_i, t_k)         (text variant)
                   S_i = cos(v_i, μ_{y_i}) − max_{k ≠ y_i} cos(v_i, μ_k)         (image-prototype variant,
                         μ_k = normalised mean of class k's pool embeddings)
    diversity      D(i | S) = 1 − max_{j ∈ S} cos(v_i, v_j),  D(i | ∅) = 1       (dynamic: changes with S)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def relevance(image_emb: torch.Tensor, labels: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """Cosine of each image to its own class's text embedding."""
    return (image_emb * text_emb[labels]).sum(1)


def margin(sims: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Own-class similarity minus the best other class's, per row of an (N, C) similarity matrix."""
    own = sims[torch.arange(len(labels)), labels]
    others = sims.clone()
    others[torch.arange(len(labels)), labels] = float("-inf")
    return own - others.max(1).values


def separability(image_emb: torch.Tensor, labels: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """Text-margin separability: negative when CLIP prefers another class's prompt."""
    return margin(image_emb @ text_emb.T, labels)


def class_prototypes(image_emb: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, d) normalised mean embedding of each class in the pool."""
    sums = torch.zeros(num_classes, image_emb.shape[1], dtype=image_emb.dtype).index_add_(0, labels, image_emb)
    return F.normalize(sums, dim=1)


def prototype_separability(image_emb: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Image-prototype margin: helps fine-grained classes whose prompts CLIP barely tells apart."""
    return margin(image_emb @ class_prototypes(image_emb, labels, num_classes).T, labels)


def diversity(image_emb: torch.Tensor, selected_emb: torch.Tensor) -> torch.Tensor:
    """1 − the cosine to the nearest already-selected image (1 when nothing is selected yet)."""
    if len(selected_emb) == 0:
        return torch.ones(len(image_emb), dtype=image_emb.dtype)
    return 1 - (image_emb @ selected_emb.T).max(1).values


def minmax(x: torch.Tensor) -> torch.Tensor:
    """Map to [0, 1]; a constant vector maps to ones (every candidate equally good)."""
    span = x.max() - x.min()
    return torch.ones_like(x) if span <= 0 else (x - x.min()) / span
