"""No import cycles in kernelwright: neither between modules nor between its subpackages, counting the imports
made inside functions too (a lazy import is still a dependency). Run alone: python -m pytest tests/test_import_graph.py"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "kernelwright").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _subpackage(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_no_module_imports_itself_through_others() -> None:
    graph = {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in _graph().items()}
    assert _cycles(graph) == []


def test_no_two_subpackages_import_each_other() -> None:
    packages: dict[str, set[str]] = {}
    for name, deps in _graph().items():
        packages.setdefault(_subpackage(name), set()).update(
            _subpackage(d) for d in deps if _subpackage(d) != _subpackage(name) and d != "kernelwright")
    assert _cycles(packages) == []


def test_the_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_outside_the_workers_imports_them() -> None:
    """kernelwright.workers runs candidate code; the trusted side only launches it by name, never imports it."""
    importers = {name for name, deps in _graph().items()
                 if _subpackage(name) != "kernelwright.workers" and any(_subpackage(d) == "kernelwright.workers"
                                                                        for d in deps)}
    assert importers == set()
