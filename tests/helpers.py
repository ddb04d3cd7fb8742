"""Small builders shared by the core tests."""

from __future__ import annotations

from pathlib import Path


def fake_installed_plugin(site: Path, dist: str, entry_name: str, module: str, source: str, version: str = "1.0") -> Path:
    """Make a plugin 'installed' in ``site`` (a folder to put on sys.path/PYTHONPATH).

    Writes the module and a ``.dist-info`` with an entry point in group ``ddcore``, which is
    exactly what importlib.metadata reads for a pip-installed distribution.
    """
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ddcore]\n{entry_name} = {module}\n")
    return site


def frozen_student(model: str = "convnet-w8", seed: int = 0):
    """(FlatModel, start θ) of a seeded 8×8 digits network with frozen parameters: the unroll's student."""
    import torch
    from dd_edf.flat import FlatModel

    from ddcore import build_model

    torch.manual_seed(seed)
    net = build_model(model, 1, 10, (8, 8))
    for p in net.parameters():
        p.requires_grad_(False)
    return FlatModel(net), torch.cat([p.reshape(-1) for p in net.parameters()])
