"""The authors' docs stay true: every hook is in docs/hooks.md with its current signature, and the
worked example of docs/writing-plugins.md is a package whose own tests pass."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

from ddcore import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
SPECS = {name: fn for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "ddcore_spec")}


def signature_line(name: str, fn) -> str:
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def test_every_hook_is_documented_with_its_current_signature():
    text = (DOCS / "hooks.md").read_text()
    documented = dict(re.findall(r"^### `(\w+)`\n\n```python\n(.+)\n```", text, flags=re.M))
    assert set(documented) == set(SPECS), f"hooks.md documents {sorted(documented)}, the code has {sorted(SPECS)}"
    for name, fn in SPECS.items():
        assert documented[name] == signature_line(name, fn), f"hooks.md's signature of {name} drifted from ddcore/hookspecs.py"


def test_the_worked_example_builds_a_plugin_whose_tests_pass(tmp_path):
    text = (DOCS / "writing-plugins.md").read_text()
    files = re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", text, flags=re.S)
    assert {p for p, _ in files} >= {"dd-farthest/pyproject.toml", "dd-farthest/dd_farthest/__init__.py",
                                     "dd-farthest/tests/test_farthest.py"}
    for rel, body in files:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "dd-farthest"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "dd-farthest" / "tests")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
