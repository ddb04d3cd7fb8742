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


def test_report_of_a_folder_without_a_run_is_one_sentence(tmp_path, dd):
    proc = dd("report", str(tmp_path))
    assert proc.returncode != 0 and "holds no finished run" in proc.stderr and "Traceback" not in proc.stderr
