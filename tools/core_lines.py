"""Count the lines of the core: ``python tools/core_lines.py`` (from the repository root).

The core is the top-level modules of ``ddcore/`` (plugin manager, hookspecs, planning, execution,
context, artifact, options, cache, run folder, errors, CLI and their helpers): what every run
executes. ``ddcore/builtins/`` holds the built-in plugins and the libraries plugins share, and
``ddcore/testing.py`` is the kit for plugin authors' test suites; neither runs as part of the core,
so neither is counted (the kit's size is printed below the total). Code lines leave out blank
lines, comments and docstrings; physical lines count everything.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "ddcore"
NOT_COUNTED = {"testing.py": "the test kit for plugin authors"}


def code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    source = path.read_text()
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings |= set(range(body[0].lineno, body[0].end_lineno + 1))
    lines: set[int] = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines |= set(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstrings)


def count() -> tuple[int, int, list[tuple[str, int, int]]]:
    rows = [(p.name, code_lines(p), len(p.read_text().splitlines())) for p in sorted(CORE.glob("*.py")) if p.name not in NOT_COUNTED]
    return sum(r[1] for r in rows), sum(r[2] for r in rows), rows


if __name__ == "__main__":
    code, physical, rows = count()
    for name, c, n in sorted(rows, key=lambda r: -r[1]):
        print(f"{c:6d} {n:6d}  ddcore/{name}")
    print(f"{code:6d} {physical:6d}  core total (code lines, physical lines)")
    for name, why in NOT_COUNTED.items():
        print(f"{code_lines(CORE / name):6d} {len((CORE / name).read_text().splitlines()):6d}  ddcore/{name}, not counted: {why}")
    sys.exit(0)
