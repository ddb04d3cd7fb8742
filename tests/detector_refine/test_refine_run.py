"""detector_refine end to end on digits with tiny settings: synthesis → scoring → refinement, after
EDF, with a Stable Diffusion folder, with a user's detector, the report, and bad input."""

from __future__ import annotations

import pytest
import torch

import dd_detector_refine
import dd_edf
from ddcore import testing
from ddcore.artifact import DistilledSet
from tiny_settings import DETECTOR_REFINE_TINY, EDF_TINY

MANAGER = testing.make_plugin_manager((dd_detector_refine, "detector_refine"), (dd_edf, "edf"))


def run(out, plugins=("detector_refine",), ipc=2, **opts):
    options = {"detector_refine": {**DETECTOR_REFINE_TINY, "beta": 0.9, **opts}}
    if "edf" in plugins:
        options["edf"] = EDF_TINY
    return testing.run_tiny(list(plugins), out, ipc=ipc, options=options, manager=MANAGER)


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    out = tmp_path_factory.mktemp("refined")
    return out, run(out)


def test_synthesis_scoring_and_refinement_run_in_order_and_keep_the_pool(refined):
    out, d = refined
    testing.assert_artifact(d, ipc=2, num_classes=10)
    stages = [(s["stage"], s["kind"], s["mode"]) for s in d.facts["stages"]]
    assert stages == [("detector_refine", "synthesizer", None), ("detector_refine", "scorer", None),
                      ("detector_refine", "selector", "refine")]
    before = DistilledSet.load(out / "stages" / "01-detector_refine.safetensors")
    assert torch.equal(before.classes, d.classes)  # labels unchanged
    replaced = d.columns["replaced"].bool()
    assert replaced.any(), "β = 0.9 with a 2-epoch detector should flag and replace something"
    assert torch.equal(d.images[~replaced], before.images[~replaced])
    assert all(not torch.equal(d.images[i], before.images[i]) for i in torch.nonzero(replaced).flatten())
    assert int(d.columns["anomalous"].sum()) <= int(d.columns["anomalous_before"].sum())
    assert torch.equal(d.columns["anomalous_before"], before.columns["anomalous"])
    facts = d.facts["detector_refine"]
    assert "small latent diffusion" in facts["generator"] and facts["prototype_source"].startswith("k-means")
    assert facts["candidates_made"] == 3 * int(d.columns["anomalous_before"].sum())
    assert d.facts["options"]["detector_refine"]["beta"] == 0.9


def test_report_shows_rates_and_writes_the_before_after_png(refined, dd):
    out, d = refined
    proc = dd("detector_refine", "report", str(out), check=True)
    assert "| class | images | anomalous before | anomalous after | replaced |" in proc.stdout
    assert f"images replaced: {int(d.columns['replaced'].bool().sum())}" in proc.stdout
    from PIL import Image

    png = Image.open(out / "detector_refine" / "replaced.png")
    assert png.size[0] > png.size[1] / 10 and (out / "detector_refine" / "report.json").is_file()


def test_report_of_a_run_without_refinement_is_one_sentence(tmp_path, dd):
    testing.run_tiny(["real"], tmp_path / "real", ipc=1, manager=MANAGER)
    proc = dd("detector_refine", "report", str(tmp_path / "real"))
    assert proc.returncode != 0 and "has no detector_refine selector stage" in proc.stderr and "Traceback" not in proc.stderr


def test_refines_edf_images_from_their_own_latents_and_keeps_soft_labels(tmp_path):
    d = run(tmp_path / "edf", plugins=("edf", "detector_refine"), ipc=1, beta=0.99)
    assert [s["stage"] for s in d.facts["stages"]] == ["edf", "detector_refine", "detector_refine"]
    edf = DistilledSet.load(tmp_path / "edf" / "stages" / "00-edf.safetensors")
    assert torch.equal(d.soft_labels, edf.soft_labels) and d.lr == edf.lr
    assert d.facts["detector_refine"]["prototype_source"].startswith("each image's own latent")
    assert d.columns["replaced"].bool().any()


def test_rounds_zero_only_detects(tmp_path):
    d = run(tmp_path / "r0", rounds=0)
    before = DistilledSet.load(tmp_path / "r0" / "stages" / "01-detector_refine.safetensors")
    assert torch.equal(d.images, before.images) and not d.columns["replaced"].any()
    assert d.facts["detector_refine"]["rounds_run"] == 0


def test_stable_diffusion_folder_end_to_end(tmp_path):
    from sd_folder import make_tiny_sd_folder

    folder = make_tiny_sd_folder(tmp_path)
    d = run(tmp_path / "run", generator=str(folder), resolution=16, prompt="a photo of {name}")
    assert d.facts["detector_refine"]["generator"] == f"Stable Diffusion img2img from {folder}"
    pixels = d.images * torch.tensor(d.std).view(1, -1, 1, 1) + torch.tensor(d.mean).view(1, -1, 1, 1)
    assert torch.isfinite(d.images).all() and pixels.min() >= -1e-4 and pixels.max() <= 1 + 1e-4  # decoded [0, 1] images
    assert len({tuple(x.flatten().tolist()) for x in d.images}) == len(d)  # every image its own seed and prototype


def test_user_detector_checkpoint_is_used(tmp_path):
    from safetensors.torch import save_file

    from ddcore.models import build_model

    net = build_model("convnet-w16", 1, 10, (8, 8))
    save_file(net.state_dict(), str(tmp_path / "det.safetensors"))
    d = run(tmp_path / "own", rounds=0, detector_weights=str(tmp_path / "det.safetensors"))
    assert d.facts["detector_refine"]["detector"] == f"convnet-w16 from {tmp_path / 'det.safetensors'}"


@pytest.mark.parametrize("option, message", [
    ("detector_refine.generator=/nowhere/sd", "is not a local diffusers folder"),
    ("detector_refine.beta=1.5", "beta"),
])
def test_bad_options_stop_before_compute(tmp_path, dd, option, message):
    proc = dd("run", "--plugins", "detector_refine", "--out", str(tmp_path / "bad"), "-o", option, "--no-eval")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bad" / "distilled.safetensors").exists()


def test_detector_weights_for_another_architecture_are_refused(tmp_path, dd):
    from safetensors.torch import save_file

    from ddcore.models import build_model

    save_file(build_model("convnet-w16", 1, 10, (8, 8)).state_dict(), str(tmp_path / "det.safetensors"))
    proc = dd("run", "--plugins", "detector_refine", "--out", str(tmp_path / "bad"), "--no-eval", "-o", "detector_refine.rounds=0",
              *[x for k, v in DETECTOR_REFINE_TINY.items() for x in ("-o", f"detector_refine.{k}={v}")],
              "-o", f"detector_refine.detector_weights={tmp_path / 'det.safetensors'}", "-o", "detector_refine.detector_model=convnet-w32")
    assert proc.returncode == 2 and "do not fit the detector_model architecture" in proc.stderr, proc.stderr[-500:]
    assert "training the small latent diffusion" not in proc.stderr  # refused before the generator
    assert not (tmp_path / "bad" / "stages").exists()
