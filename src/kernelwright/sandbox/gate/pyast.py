"""AST helpers shared by the Python rules, and the string literals scanned by the native rules."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator


def qual_match(qualname: str, entry: str) -> bool:
    if entry.endswith("*"):
        return qualname.startswith(entry[:-1])
    return qualname == entry or qualname.startswith(entry + ".")


def attr_root_name(node: ast.AST) -> str | None:
    """Root name of a pure attribute / subscript chain (no calls)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def unparse(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - ast.unparse handles every parsed node
        return type(node).__name__


def is_empty_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in (None, False, "", 0)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(is_empty_literal(e) for e in node.elts)
    return False


def python_string_literals(tree: ast.AST) -> Iterator[tuple[str, Callable[[int], int]]]:
    """Every string literal of the module (f-strings joined, docstrings skipped) with a function
    mapping a 1-based line inside the literal to a line of the Python source."""
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                docstrings.add(id(body[0].value))

    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for part in ast.walk(node):
                if part is not node:
                    inside_fstring.add(id(part))

    for node in ast.walk(tree):
        if id(node) in docstrings or id(node) in inside_fstring:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "_"
                           for v in node.values)
        else:
            continue
        if not text.strip():
            continue
        start = node.lineno
        end = getattr(node, "end_lineno", None) or start

        def to_py_line(native_line: int, start: int = start, end: int = end) -> int:
            if end == start:
                return start
            return min(start + native_line - 1, end)

        yield text, to_py_line
