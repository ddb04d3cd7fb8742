"""`dd report RUN`: one HTML page whose images exist and whose numbers are the run's own."""

from __future__ import annotations

import json
from html.parser import HTMLParser


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_report_shows_images_stages_evaluation_curves_and_manifest(tmp_path, dd):
    run = tmp_path / "r"
    dd("run", "--dataset", "digits", "--ipc", "2", "--plugins", "toy,random", "--pool-factor", "3", "-o", "toy.iterations=12",
       "-o", "eval.num_nets=2", "-o", "eval.epochs=2", "-q", "--out", str(run), check=True)
    proc = dd("report", str(run), check=True)
    page = run / "report" / "index.html"
    assert str(page) in proc.stdout
    text = page.read_text()
    parser = _Images()
    parser.feed(text)
    assert len(parser.sources) >= 3  # distilled images, the kept images, the toy's curves (its section is its own)
    for src in parser.sources:
        assert (page.parent / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
    assert any("curves-00-toy" in s for s in parser.sources)
    e = json.loads((run / "eval.json").read_text())
    for row in ("distilled", "random"):
        assert f"{e[row]['mean']:.2f} ± {e[row]['std']:.2f}" in text
    assert "kept 20 of 60 images" in text and "0. toy (synthesizer)" in text and "1. random (select)" in text
    assert "toy made 60 images." in text  # the toy plugin's report_stage section
    assert "&quot;ddcore_version&quot;" in text  # the manifest
    from ddcore.builtins.training import cpu_numerics

    here = cpu_numerics()  # what CPU results depend on, recorded where the set and its evaluation are
    assert {k: json.loads((run / "manifest.json").read_text())[k] for k in here} == here == {k: e["protocol"][k] for k in here}


def test_report_of_a_folder_without_a_run_is_one_sentence(tmp_path, dd):
    proc = dd("report", str(tmp_path))
    assert proc.returncode != 0 and "holds no finished run" in proc.stderr and "Traceback" not in proc.stderr


def test_report_and_show_refuse_an_artifact_that_is_not_the_one_its_manifest_describes(tmp_path, dd):
    """A 16×16 set put under an 8×8 run's manifest: one sentence and exit ≠ 0, not a report of the wrong set."""
    import torch

    from ddcore.artifact import DistilledSet

    run = tmp_path / "r"
    dd("run", "--dataset", "digits", "--ipc", "1", "--plugins", "real", "--no-eval", "--out", str(run), "-q", check=True)
    d = DistilledSet.load(run / "distilled.safetensors")
    big = DistilledSet(images=torch.zeros(len(d), 1, 16, 16), classes=d.classes, class_names=d.class_names, mean=d.mean,
                       std=d.std, facts=d.facts)
    big.save(run / "distilled.safetensors")
    for command in (("report", str(run)), ("show", str(run))):
        proc = dd(*command)
        assert proc.returncode != 0 and "is not the set its manifest.json describes" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (run / "report").exists() and not (run / "show").exists()  # nothing half-written
