"""The shape the core keeps: light imports, no import cycles, and plugins on the public API only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ddcore

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ddcore"
HEAVY = ("timm", "matplotlib", "sklearn", "mlxtend", "torchvision", "diffusers", "open_clip")
PUBLIC_SUBMODULES = {"ddcore.testing"}  # docs/api.md lists them; everything else comes from `ddcore` itself
PLUGIN_SOURCES = [*ROOT.glob("plugins/*/dd_*/**/*.py"), *ROOT.glob("examples/*/dd_*/**/*.py"), *ROOT.glob("examples/*/tests/*.py")]


def test_the_core_imports_no_heavy_library():
    code = ("import sys, ddcore, ddcore.plugins, ddcore.planning, ddcore.execution, ddcore.run, ddcore.cli\n"
            "from ddcore.plugins import get_plugin_manager\n"
            "pm = get_plugin_manager(); pm.registry\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"DD_LOAD_PLUGINS": "", "PATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(path: Path) -> set[str]:
    """Every module ``path`` imports when it runs, function-level imports included (not ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def test_the_core_has_no_import_cycle():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: sorted(i for i in _runtime_imports(p) if i in modules and i != m) for m, p in modules.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in graph[m]:
            if n == "ddcore" and m.startswith("ddcore."):
                continue  # `from ddcore import X` in a submodule names an already-initialised package
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_core_does_not_import_its_builtins_at_module_level():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [ast.unparse(n) for n in top]
        assert not [n for n in names if "builtins" in n], f"{path.name} imports a built-in plugin at module level: {names}"


def test_plugins_use_only_the_public_api():
    assert PLUGIN_SOURCES, "no plugin sources found"
    exported = set(ddcore.__all__)
    offences = []
    for path in PLUGIN_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ddcore" and not node.level:
                if node.module == "ddcore":
                    offences += [f"{path}: ddcore.{a.name}" for a in node.names if a.name not in exported and a.name not in PUBLIC_SUBMODULES_SHORT]
                elif node.module not in PUBLIC_SUBMODULES:
                    offences.append(f"{path}: {node.module}")
            elif isinstance(node, ast.Import):
                offences += [f"{path}: {a.name}" for a in node.names if a.name.startswith("ddcore.") and a.name not in PUBLIC_SUBMODULES]
    assert not offences, "plugins reach past the public API:\n" + "\n".join(offences)


PUBLIC_SUBMODULES_SHORT = {m.split(".", 1)[1] for m in PUBLIC_SUBMODULES}


def test_the_new_plugin_skeleton_uses_only_the_public_api():
    from ddcore.builtins import scaffold

    for template in (scaffold.MODULE, scaffold.TEST):
        for line in template.splitlines():
            if line.startswith("from ddcore"):
                module, _, names = line[5:].partition(" import ")
                assert module == "ddcore", line
                assert all(n.strip() in set(ddcore.__all__) | PUBLIC_SUBMODULES_SHORT for n in names.split(",")), line


def test_everything_ddcore_exports_resolves():
    for name in ddcore.__all__:
        assert getattr(ddcore, name) is not None, name


def test_the_type_stub_declares_exactly_the_public_names():
    """``ddcore/__init__.pyi`` (what editors and type checkers read) and the lazy ``__all__`` agree."""
    import ast

    import ddcore

    tree = ast.parse((ROOT / "ddcore" / "__init__.pyi").read_text())
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    declared = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__")
    assert set(declared) == set(ddcore.__all__)
    assert imported == set(ddcore.__all__) - {"__version__"}


def test_the_core_stays_under_two_thousand_code_lines():
    sys.path.insert(0, str(ROOT / "tools"))
    from core_lines import count

    code, _, rows = count()
    assert code <= 2000, f"the core has {code} code lines: " + ", ".join(f"{n} {c}" for n, c, _ in rows)
