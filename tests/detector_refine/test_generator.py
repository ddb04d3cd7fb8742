"""The two generator sources: the small model (build, save, reload, seeds, resumable training) and a
local Stable Diffusion folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ddcore import progress_file
from ddcore.cache import Cache
from ddcore.builtins.data.embedded import load_digits
from dd_detector_refine.generator import load_tiny
from dd_detector_refine.tiny_ldm import CACHE_KIND, TinyLdmSettings, TrainedParts, build_parts, cache_spec, train_tiny_ldm

SETTINGS = TinyLdmSettings(width=8, vae_epochs=1, unet_epochs=2)


@pytest.fixture(scope="module")
def untrained_folder(tmp_path_factory):
    data = load_digits()
    torch.manual_seed(0)
    vae, unet, tokens = build_parts(1, 8, data.num_classes, SETTINGS)
    folder = tmp_path_factory.mktemp("gen")
    TrainedParts(vae, unet, tokens, SETTINGS, data.class_names).save(folder)
    return folder, unet


def test_saved_generator_reloads_through_from_pretrained(untrained_folder):
    folder, unet = untrained_folder
    assert (folder / "model_index.json").is_file() and (folder / "unet").is_dir()
    gen = load_tiny(folder, load_digits(), torch.device("cpu"))
    reloaded = dict(gen.pipe.unet.state_dict())
    assert all(torch.equal(v, reloaded[k]) for k, v in unet.state_dict().items())
    assert gen.class_table.shape == (11, SETTINGS.tokens * SETTINGS.width)


def test_seeds_determine_the_candidates(untrained_folder):
    data = load_digits()
    gen = load_tiny(untrained_folder[0], data, torch.device("cpu"))
    z = gen.encode(data.denormalize(data.train_images[:1])).repeat(3, 1, 1, 1)
    classes = torch.tensor([3, 3, 3])
    a = gen.img2img(z, classes, [1, 1, 2], strength=0.7, guidance=2.0, steps=4)
    b = gen.img2img(z, classes, [1, 1, 2], strength=0.7, guidance=2.0, steps=4)
    assert a.shape == (3, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)  # the same call twice: identical
    # the same seed at another batch position: equal up to float summation order; another seed: different
    assert torch.allclose(a[0], a[1], atol=1e-5) and (a[0] - a[2]).abs().max() > 0.01


def test_training_is_cached(tmp_path):
    data, logs = load_digits(), []
    first = train_tiny_ldm(Cache(tmp_path), data, SETTINGS, 0, torch.device("cpu"), log=logs.append, quiet=True)
    again = train_tiny_ldm(Cache(tmp_path), data, SETTINGS, 0, torch.device("cpu"), log=logs.append, quiet=True)
    assert first == again and (first / "ddcore_generator.json").is_file()
    assert sum("training the small latent diffusion" in m for m in logs) == 1


def test_killed_generator_training_resumes_to_the_same_weights(tmp_path):
    """Kill `dd detector_refine train-generator` after its first UNet epoch; training again resumes
    there and ends with exactly the weights of an uninterrupted training."""
    from safetensors.torch import load_file

    data, settings = load_digits(), TinyLdmSettings(width=8, vae_epochs=1, unet_epochs=3)
    cut, whole = Cache(tmp_path / "cut"), Cache(tmp_path / "whole")
    spec = cache_spec(data, settings, 0)
    final, partial = cut.dir_for(CACHE_KIND, spec), progress_file(cut, CACHE_KIND, spec)
    proc = subprocess.Popen([sys.executable, "-m", "ddcore", "detector_refine", "train-generator", "--dataset", "digits",
                             "--width", "8", "--vae-epochs", "1", "--unet-epochs", "3", "--device", "cpu", "--cache-dir", str(cut.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})  # as many threads as here: the same sums
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and torch.load(partial, weights_only=True)["unet_epochs"] >= 1:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not final.exists(), "training finished or never checkpointed before the kill"
    logs = []
    train_tiny_ldm(cut, data, settings, 0, torch.device("cpu"), log=logs.append, quiet=True)
    assert any("resuming generator training after 1 VAE and" in m for m in logs) and not partial.exists()
    train_tiny_ldm(whole, data, settings, 0, torch.device("cpu"), log=print, quiet=True)
    weights = "unet/diffusion_pytorch_model.safetensors"
    a, b = load_file(str(final / weights)), load_file(str(whole.dir_for(CACHE_KIND, cache_spec(data, settings, 0)) / weights))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stable_diffusion_folder_generates_with_prompts(tmp_path):
    from sd_folder import make_tiny_sd_folder

    from ddcore.testing import make_plugin_manager  # noqa: F401  (keeps the import path the tests use)
    from dd_detector_refine.generator import load_stable_diffusion
    from dd_detector_refine.options import DetectorRefineOptions

    folder = make_tiny_sd_folder(tmp_path)
    data = load_digits()
    opts = DetectorRefineOptions(generator=str(folder), resolution=16, prompt="a photo of {name}", negative_prompt="blurry")
    gen = load_stable_diffusion(folder, data, opts, torch.device("cpu"))
    assert gen.class_prompts[7] == "a photo of 7" and gen.resolution == 16
    z = gen.encode(data.denormalize(data.train_images[:2]))
    assert z.shape == (2, 4, 8, 8)
    out = gen.img2img(z, torch.tensor([1, 2]), [0, 1], strength=0.7, guidance=4.0, steps=4)
    assert out.shape == (2, 1, 8, 8)


def test_bf16_sampling_is_close_to_fp32_and_bf16_training_has_its_own_cache_entry(untrained_folder):
    data = load_digits()
    gen = load_tiny(untrained_folder[0], data, torch.device("cpu"))
    z = gen.encode(data.denormalize(data.train_images[:2]))
    fp32 = gen.img2img(z, torch.tensor([1, 2]), [1, 2], strength=0.7, guidance=2.0, steps=4)
    gen.precision = "bf16"
    bf16 = gen.img2img(z, torch.tensor([1, 2]), [1, 2], strength=0.7, guidance=2.0, steps=4)
    assert bf16.dtype == torch.float32 and not torch.equal(fp32, bf16) and (fp32 - bf16).abs().mean() < 0.05
    assert cache_spec(data, SETTINGS, 0) != cache_spec(data, TinyLdmSettings(width=8, vae_epochs=1, unet_epochs=2,
                                                                             precision="bf16"), 0)
    assert "precision" not in cache_spec(data, SETTINGS, 0)["settings"]  # fp32 keeps the key it always had
