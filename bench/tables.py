"""Regenerate every README table that comes from a bench's JSON: ``python bench/tables.py``.

A table sits between ``<!-- bench-table: NAME -->`` and ``<!-- /bench-table -->`` and is
``bench/NAME.py``'s ``table()`` of ``bench/results/NAME.json``; ``tests/test_docs.py`` fails when
one differs from its JSON.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- bench-table: (\w+) -->\n)(.*?)(<!-- /bench-table -->)", flags=re.S)


def render(name: str) -> str:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.table(json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())).strip() + "\n"


def main() -> None:
    for readme in [ROOT / "README.md", *ROOT.glob("plugins/*/README.md")]:
        text = readme.read_text()
        new = BLOCK.sub(lambda m: m.group(1) + render(m.group(2)) + m.group(4), text)
        if new != text:
            readme.write_text(new)
            print(f"updated {readme.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
