"""`dd new-plugin NAME` writes a package that installs (a real pip build of its pyproject) and whose
own tests pass unchanged; ddcore then finds it through the entry point."""

from __future__ import annotations

import os
import subprocess
import sys


def test_skeleton_installs_is_found_and_passes_its_tests(tmp_path, dd):
    dd("new-plugin", "demo_plug", "--dir", str(tmp_path), check=True)
    pkg = tmp_path / "dd-demo-plug"
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(pkg)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = dd("plugins", env=env, check=True).stdout
    assert '"demo_plug"' in listed and '"dd-demo-plug"' in listed  # the stage and its distribution
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(pkg / "tests")], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0 and "3 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_a_bad_name_or_an_existing_folder_is_one_sentence(tmp_path, dd):
    proc = dd("new-plugin", "Not-A-Name", "--dir", str(tmp_path))
    assert proc.returncode != 0 and "lower-case letters" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
    dd("new-plugin", "twice", "--dir", str(tmp_path), check=True)
    proc = dd("new-plugin", "twice", "--dir", str(tmp_path))
    assert proc.returncode != 0 and "already exists" in proc.stderr
