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


DOCUMENTED = ["DistilledSet", "RealData", "RunContext", "MatchingTerms", "PixelGradients", "StageReport", "Synthesizer",
              "Scorer", "Selector", "Modifier", "Evaluator", "Options", "DatasetSpec", "DatasetTransform", "ModelSpec", "Cache"]


def public_members(cls) -> list[str]:
    import dataclasses

    own = [k for k in vars(cls) if not k.startswith("_") and not k.startswith("model_")]
    fields = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")] if dataclasses.is_dataclass(cls) else []
    return list(dict.fromkeys(fields + own))


def test_api_reference_names_every_public_member_and_export():
    import ddcore
    from ddcore import testing

    text = (DOCS / "api.md").read_text()
    sections = dict(re.findall(r"^### `(\w+)`\n(.*?)(?=^##)", text + "\n##", flags=re.M | re.S))
    assert set(DOCUMENTED) <= set(sections), f"api.md lacks {sorted(set(DOCUMENTED) - set(sections))}"
    for name in DOCUMENTED:
        missing = [m for m in public_members(getattr(ddcore, name)) if f"`{m}" not in sections[name]]
        assert not missing, f"api.md's {name} section does not mention {missing}"
    exports = text.split("## Everything `ddcore` exports", 1)[1]
    missing = [n for n in ddcore.__all__ if f"`{n}" not in exports]
    assert not missing, f"api.md does not list the exports {missing}"
    kit = [n for n in ("make_plugin_manager", "use_plugins", "run_tiny", "assert_artifact", "run_modifier") if hasattr(testing, n)]
    assert all(f"`{n}`" in exports for n in kit)


def test_generated_readme_tables_equal_their_sources():
    """Every README block between ``<!-- bench-table: NAME -->`` (a bench's JSON) or ``<!-- options-table:
    STAGE -->`` (a stage's options) markers is what ``python bench/tables.py`` renders, never typed by hand."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_tables", DOCS.parent / "bench" / "tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    kinds = set()
    for readme in tables.readmes():
        kinds |= {m.group(2) for m in tables.BLOCK.finditer(readme.read_text())}
        _, changed = tables.regenerate(readme)
        assert not changed, f"{readme}: {changed} differ from their source; run python bench/tables.py"
    assert kinds == {"bench", "options"}, "the READMEs carry no generated tables of some kind"
