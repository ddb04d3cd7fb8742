"""Turning raw pixels into ``RealData``: the fixed split and the normalisation statistics.

The pixels stay in their source dtype (uint8): ``RealData`` normalises the rows a loop asks for,
on its device, so a dataset costs a quarter of its float32 size in memory.

Datasets that ship no test split (digits, mnist5k) use one fixed, documented split: stratified
80/20 with seed 0 (scikit-learn's ``train_test_split``), so every run and every paper number on
them refers to the same test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ddcore.realdata import RealData

SPLIT_SEED = 0
TEST_FRACTION = 0.2
FIXED_SPLIT = f"stratified {int((1 - TEST_FRACTION) * 100)}/{int(TEST_FRACTION * 100)} split, seed {SPLIT_SEED}"


def stratified_split(labels: np.ndarray, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices of the fixed split; kept in ``cache_dir`` (keyed by the labels) once
    computed, so a later process does not import scikit-learn (1.3 s of every `dd` start)."""
    import hashlib

    from safetensors.numpy import load_file, save_file

    key = hashlib.sha256(np.ascontiguousarray(labels).tobytes() + repr((SPLIT_SEED, TEST_FRACTION)).encode()).hexdigest()[:20]
    path = cache_dir / f"split-{key}.safetensors" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            found = load_file(str(path))
            return found["train"], found["test"]
        except Exception:  # damaged: computed again below
            pass
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = (np.sort(part) for part in train_test_split(index, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels))
    if path is not None:
        from ddcore.atomic import atomic_path

        with atomic_path(path) as tmp:
            save_file({"train": train, "test": test}, str(tmp))
    return train, test


def channel_stats(pixels: torch.Tensor, divisor: float = 255.0, chunk: int = 64) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of N×C×H×W ``pixels / divisor`` (the training split's), summed in
    float64 a chunk at a time, so no float copy of the split is made."""
    channels = pixels.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(pixels), chunk):
        x = pixels[start:start + chunk].double() / divisor
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
    count = pixels.numel() // channels
    mean = total / count
    std = ((squares - count * mean * mean) / (count - 1)).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def make_real_data(
    name: str,
    train_pixels: torch.Tensor,
    train_labels: torch.Tensor,
    test_pixels: torch.Tensor,
    test_labels: torch.Tensor,
    class_names: list[str],
    source: str,
    split: str,
    divisor: float = 255.0,
) -> RealData:
    """Source pixels (uint8, ``x = pixels / divisor`` in [0, 1]) normalised by the training split's statistics."""
    mean, std = channel_stats(train_pixels, divisor)
    return RealData(
        name=name,
        train_images=None,
        train_labels=train_labels.long().contiguous(),
        test_images=None,
        test_labels=test_labels.long().contiguous(),
        class_names=list(class_names),
        mean=mean,
        std=std,
        source=source,
        split=split,
        train_pixels=train_pixels.contiguous(),
        test_pixels=test_pixels.contiguous(),
        pixel_divisor=divisor,
    )


def from_unsplit(name: str, pixels: torch.Tensor, labels: np.ndarray, class_names: list[str], source: str,
                 divisor: float = 255.0, cache_dir: Path | None = None) -> RealData:
    """Apply the fixed split to a dataset that ships none."""
    train, test = stratified_split(labels, cache_dir)
    y = torch.as_tensor(labels, dtype=torch.long)
    return make_real_data(name, pixels[train], y[train], pixels[test], y[test], class_names, source, FIXED_SPLIT, divisor)
