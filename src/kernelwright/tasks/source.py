"""Static reading of a task file: what it defines and declares, without running it."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

from pydantic import ValidationError

from .models import Declarations

DECLARATION_NAMES: dict[str, str] = {
    "DTYPE": "dtype",
    "ALLOW_TF32": "allow_tf32",
    "ALLOW_FAST_MATH": "allow_fast_math",
    "INPUT_DOMAIN": "input_domain",
    "ALLOW_INPLACE": "allow_inplace",
    "TOLERANCE": "tolerance",
    "VARIANTS": "variants",
}
REQUIRED_FUNCTIONS = ("get_inputs", "get_init_inputs")


class TaskSourceError(Exception):
    """The file is not a usable task; the message is one line for the user."""


@dataclass(frozen=True)
class ParsedSource:
    tree: ast.Module
    docstring: str | None
    constants: dict[str, int]
    declarations: Declarations


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def parse_task_source(source: str, filename: str) -> ParsedSource:
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise TaskSourceError(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    defined = _top_level_definitions(tree)
    if "Model" not in defined:
        raise TaskSourceError("defines no class Model (a KernelBench task needs Model, get_inputs, get_init_inputs)")
    for name in REQUIRED_FUNCTIONS:
        if name not in defined:
            raise TaskSourceError(f"defines no function {name}()")
    docstring = ast.get_docstring(tree)
    return ParsedSource(
        tree=tree,
        docstring=docstring.strip().splitlines()[0] if docstring else None,
        constants=integer_constants(tree),
        declarations=_declarations(tree),
    )


def integer_constants(tree: ast.Module) -> dict[str, int]:
    """Module-level `name = <int literal>` assignments, the sizes a variant may override."""
    found: dict[str, int] = {}
    for node in tree.body:
        target, value = _simple_assignment(node)
        if target is None or target in DECLARATION_NAMES:
            continue
        if isinstance(value, ast.Constant) and type(value.value) is int:
            found[target] = value.value
        else:
            found.pop(target, None)
    return found


def with_constants(tree: ast.Module, overrides: dict[str, int]) -> ast.Module:
    """A copy of the module whose integer constants take the given values."""
    unknown = set(overrides) - set(integer_constants(tree))
    if unknown:
        raise TaskSourceError(f"variant overrides unknown integer constants: {', '.join(sorted(unknown))}")
    rewritten = ast.Module(body=[], type_ignores=tree.type_ignores)
    for node in tree.body:
        target, value = _simple_assignment(node)
        if target in overrides and isinstance(value, ast.Constant):
            node = ast.copy_location(
                ast.Assign(targets=[ast.Name(id=target, ctx=ast.Store())], value=ast.Constant(overrides[target])),
                node,
            )
        rewritten.body.append(node)
    return ast.fix_missing_locations(rewritten)


def _top_level_definitions(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _simple_assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id, node.value
    return None, None


def _declarations(tree: ast.Module) -> Declarations:
    raw: dict[str, object] = {}
    for node in tree.body:
        target, value = _simple_assignment(node)
        if target in DECLARATION_NAMES and value is not None:
            try:
                raw[DECLARATION_NAMES[target]] = ast.literal_eval(value)
            except ValueError:
                raise TaskSourceError(f"{target} must be a literal value (line {node.lineno})") from None
    try:
        return Declarations.model_validate(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = next((k for k, v in DECLARATION_NAMES.items() if v == problem["loc"][0]), problem["loc"][0])
        raise TaskSourceError(f"invalid declaration {field}: {problem['msg']}") from None
