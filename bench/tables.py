"""Regenerate every README table that is generated, never typed: ``python bench/tables.py`` (``--check``
only reports the stale ones and exits 1).

* ``<!-- bench-table: NAME -->`` … ``<!-- /bench-table -->``: ``bench/NAME.py``'s ``table()`` of
  ``bench/results/NAME.json``; ``NAME-DEVICE`` (``eval_speed-cuda``) renders
  ``bench/results/NAME-DEVICE.json`` with the same script; ``NAME:VIEW`` calls ``table(result, "VIEW")``
  for a bench that renders more than one table from its JSON.
* ``<!-- options-table: STAGE -->`` … ``<!-- /options-table -->``: the options a stage registers
  (``eval`` for the built-in evaluator's), as ``dd plugins --options`` lists them.

``tests/test_docs.py`` fails when a block differs from what this renders.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- (bench|options)-table: (\w+(?:-\w+)*(?::\w+)?) -->\n)(.*?)(<!-- /\2-table -->)", flags=re.S)


def bench_table(name: str) -> str:
    name, _, view = name.partition(":")
    script = name.split("-")[0]
    if str(ROOT / "bench") not in sys.path:  # the scripts import their shared helpers as `_common`
        sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(f"bench_{script}", ROOT / "bench" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())
    return module.table(result, view) if view else module.table(result)


def options_table(stage: str) -> str:
    from ddcore.options import options_help
    from ddcore.plugins import get_plugin_manager

    pm = get_plugin_manager()
    model = pm.registry.evaluator["fresh_nets"].value.options if stage == "eval" else pm.registry.options[stage].value
    lines = ["| option | type | default | what |", "|---|---|---|---|"]
    for row in options_help(model):
        lines.append(f"| `{row['name']}` | {row['type']} | {row['default']} | {row['help'].replace('|', chr(92) + '|')} |")
    return "\n".join(lines)


def render(kind: str, name: str) -> str:
    return (bench_table(name) if kind == "bench" else options_table(name)).strip() + "\n"


def readmes() -> list[Path]:
    return [ROOT / "README.md", *sorted(ROOT.glob("plugins/*/README.md"))]


def regenerate(path: Path) -> tuple[str, list[str]]:
    """The README's text with every block rendered, and the blocks that changed."""
    changed = []

    def fill(m: re.Match) -> str:
        body = render(m.group(2), m.group(3))
        if body != m.group(4):
            changed.append(f"{m.group(2)}-table {m.group(3)}")
        return m.group(1) + body + m.group(5)

    return BLOCK.sub(fill, path.read_text()), changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table differs from its source")
    args = ap.parse_args()
    stale = []
    for readme in readmes():
        text, changed = regenerate(readme)
        stale += [f"{readme.relative_to(ROOT)}: {c}" for c in changed]
        if changed and not args.check:
            readme.write_text(text)
    for line in stale:
        print(("stale " if args.check else "updated ") + line)
    sys.exit(1 if stale and args.check else 0)


if __name__ == "__main__":
    main()
