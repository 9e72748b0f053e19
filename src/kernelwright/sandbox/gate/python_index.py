"""What the Python rules look up: import aliases, module-level names, parents, extension objects."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from kernelwright.sandbox.gate.findings import Sink
from kernelwright.sandbox.gate.pyast import attr_root_name, unparse
from kernelwright.sandbox.policy import Backend, StaticPolicy


class PythonIndex:
    """The parsed candidate, indexed; the base of the Python rule classes."""

    def __init__(self, tree: ast.Module, source: str, policy: StaticPolicy, backend: Backend,
                 sink: Sink) -> None:
        self.tree = tree
        self.lines = source.splitlines()
        self.policy = policy
        self.py = policy.python
        self.backend = backend
        self.sink = sink
        self.nodes: list[ast.AST] = list(ast.walk(tree))
        self.parents: dict[int, ast.AST] = {}
        self._submods_cache: dict[int, dict[str, str]] = {}
        self.aliases: dict[str, str] = {}
        self.reported_modules: set[str] = set()
        self.module_funcs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.module_classes: dict[str, ast.ClassDef] = {}
        self.module_vars: set[str] = set()
        self.shadowed: set[str] = set()
        self.modelnew: ast.ClassDef | None = None
        self.forward_funcs: list[tuple[ast.AST, ast.ClassDef | None]] = []  # (function, owning class)
        self.forward_nodes: set[int] = set()
        self.extension_refs: set[str] = set()  # "ext", "self.ext": objects returned by load_inline

    # -- helpers ---------------------------------------------------------------------------------

    def emit(self, rule_id: str, node: ast.AST | int | None, name: str | None = None) -> None:
        line = node if isinstance(node, int) or node is None else getattr(node, "lineno", None)
        excerpt = self.lines[line - 1] if line is not None and 0 < line <= len(self.lines) else None
        self.sink.emit(rule_id, origin="python", line=line, name=name, excerpt=excerpt)

    def resolve(self, node: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def module_bound(self, node: ast.AST) -> bool:
        """True for a name / attribute / subscript chain rooted at an imported module or name."""
        root = attr_root_name(node)
        return root is not None and root in self.aliases

    def builtin(self, node: ast.AST, names: Iterable[str]) -> str | None:
        if isinstance(node, ast.Name) and node.id in names and node.id not in self.shadowed:
            return node.id
        return None

    def _index(self) -> None:
        for node in self.nodes:
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
        # Import aliases (anywhere), then simple alias assignments `T = torch`, `F2 = F`.
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.aliases[top] = top
                    self.shadowed.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = ("." * node.level) + (node.module or "")
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    self.aliases[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
                    self.shadowed.add(alias.asname or alias.name)
        for _ in range(3):
            changed = False
            for node in self.nodes:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name) \
                        and isinstance(node.value, (ast.Name, ast.Attribute)):
                    q = self.resolve(node.value)
                    name = node.targets[0].id
                    if q is not None and self.aliases.get(name) != q:
                        self.aliases[name] = q
                        changed = True
            if not changed:
                break
        for node in self.nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.shadowed.add(node.name)
        for stmt in self._module_statements():
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.module_funcs[stmt.name] = stmt
            elif isinstance(stmt, ast.ClassDef):
                self.module_classes[stmt.name] = stmt
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            self.module_vars.add(sub.id)
        self.module_vars -= set(self.aliases)
        # Names holding the candidate's own extension (its functions are not library compute).
        for _ in range(3):
            for node in self.nodes:
                if not isinstance(node, ast.Assign):
                    continue
                value = node.value
                is_ext = (isinstance(value, ast.Call) and self.resolve(value.func) in self.py.build.builders) \
                    or unparse(value) in self.extension_refs
                if is_ext:
                    for t in node.targets:
                        if isinstance(t, (ast.Name, ast.Attribute)):
                            self.extension_refs.add(unparse(t))

    def _module_statements(self) -> Iterator[ast.stmt]:
        """Module-level statements, looking through if / try / with blocks (not into defs)."""
        stack = list(reversed(self.tree.body))
        while stack:
            stmt = stack.pop()
            yield stmt
            blocks: list[list[ast.stmt]] = []
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                blocks = [stmt.body, stmt.orelse]
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                blocks = [stmt.body]
            elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                blocks = [stmt.body, stmt.orelse, stmt.finalbody] + [h.body for h in stmt.handlers]
            for block in blocks:
                stack.extend(reversed(block))
