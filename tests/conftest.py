"""Shared fixtures: small threads, isolated cache, and the in-process toy plugins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test shares one session cache folder, never the user's (session scope, so module
    fixtures that run a pipeline see it too)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "dd-cache"))
        yield


@pytest.fixture(scope="session", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(2)


def run_dd(*args: str, env: dict | None = None, check: bool = False, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the ``dd`` command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "ddcore", *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"dd {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def dd():
    return run_dd
