"""Python rules on ModelNew and its forward path: bases, lazy tensors, state writes, host syncs, compute."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from kernelwright.sandbox.gate.pyast import attr_root_name, qual_match, unparse
from kernelwright.sandbox.gate.python_index import PythonIndex


class ForwardRules(PythonIndex):
    """Rules on the classes, on ModelNew, and on the code its forward reaches."""

    # -- classes ---------------------------------------------------------------------------------

    def _lazy_base(self, base: ast.AST, seen: set[str]) -> str | None:
        q = self.resolve(base)
        if q is not None and any(qual_match(q, e) for e in self.py.lazy_tensor_bases):
            return q
        if isinstance(base, ast.Name) and base.id in self.module_classes and base.id not in seen:
            seen.add(base.id)
            for b in self.module_classes[base.id].bases:
                if found := self._lazy_base(b, seen):
                    return found
        return None

    def _check_classes(self) -> None:
        refs = set(self.py.reference_names)
        for node in self.nodes:
            if not isinstance(node, ast.ClassDef):
                continue
            if node.name in refs:
                self.emit("MODEL_REDEFINED", node, f"class {node.name}")
            for base in node.bases:
                if found := self._lazy_base(base, set()):
                    self.emit("LAZY_TENSOR", node, f"class {node.name}({unparse(base)}) subclasses {found}")
            for stmt in node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        and stmt.name in self.py.lazy_tensor_hooks:
                    self.emit("LAZY_TENSOR", stmt, f"{node.name}.{stmt.name}")
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for t in targets:
                        if isinstance(t, ast.Name) and t.id in self.py.lazy_tensor_hooks:
                            self.emit("LAZY_TENSOR", stmt, f"{node.name}.{t.id}")

    def _check_modelnew(self) -> None:
        name = self.py.modelnew_class
        defs = [s for s in self._module_statements() if isinstance(s, ast.ClassDef) and s.name == name]
        if not defs:
            self.emit("NO_MODELNEW", None, name)
            return
        self.modelnew = defs[-1]
        if len(defs) > 1:
            self.emit("MODELNEW_BASE", defs[-1], f"{name} defined {len(defs)} times")
        for cls in defs:
            if len(cls.bases) != 1:
                shown = ", ".join(unparse(b) for b in cls.bases) or "no base class"
                self.emit("MODELNEW_BASE", cls, f"class {name}({shown})")
            for base in cls.bases:
                q = self.resolve(base)
                raw = unparse(base)
                ok = q in self.py.allowed_model_bases if (q is not None and self.module_bound(base)) \
                    else raw in self.py.allowed_model_bases_unresolved
                if not ok:
                    self.emit("MODELNEW_BASE", cls, f"base class {raw}")
            for kw in cls.keywords:
                self.emit("MODELNEW_BASE", cls, f"class keyword {kw.arg}=")
            for deco in cls.decorator_list:
                self.emit("MODELNEW_BASE", deco, f"decorator @{unparse(deco)}")
        for node in self.nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                self.emit("MODELNEW_BASE", node, f"def {name}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.asname == name or (alias.asname is None and alias.name == name):
                        self.emit("MODELNEW_BASE", node, f"{name} bound by import")

    # -- forward path ----------------------------------------------------------------------------

    @staticmethod
    def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        return {s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def _submodule_classes(self, cls: ast.ClassDef) -> dict[str, str]:
        """self.X = LocalClass(...) / nn.Something(...) assignments in the class's methods."""
        if id(cls) in self._submods_cache:
            return self._submods_cache[id(cls)]
        out: dict[str, str] = self._submods_cache.setdefault(id(cls), {})
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                for t in node.targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        func = node.value.func
                        if isinstance(func, ast.Name) and func.id in self.module_classes:
                            out[t.attr] = func.id
                        else:
                            q = self.resolve(func)
                            if q is not None:
                                out[t.attr] = q
        return out

    def _find_forward_path(self) -> None:
        if self.modelnew is None:
            return
        queue: list[tuple[ast.AST, ast.ClassDef | None]] = []
        seen: set[int] = set()

        def add(fn: ast.AST | None, owner: ast.ClassDef | None) -> None:
            if fn is not None and id(fn) not in seen:
                seen.add(id(fn))
                queue.append((fn, owner))

        def add_class(cls: ast.ClassDef, names: Iterable[str]) -> None:
            methods = self._methods(cls)
            for n in names:
                add(methods.get(n), cls)

        add_class(self.modelnew, self.py.entry_methods)
        while queue:
            fn, owner = queue.pop()
            self.forward_funcs.append((fn, owner))
            owner_methods = self._methods(owner) if owner is not None else {}
            submods = self._submodule_classes(owner) if owner is not None else {}
            for node in ast.walk(fn):
                self.forward_nodes.add(id(node))
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    if node.id in self.module_funcs:
                        add(self.module_funcs[node.id], None)
                    elif node.id in self.module_classes:
                        add_class(self.module_classes[node.id],
                                  ("__init__", "__call__", "forward", "__enter__", "__exit__"))
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    base = node.value.id
                    if base == "self" and owner is not None:
                        if node.attr in owner_methods:
                            add(owner_methods[node.attr], owner)
                        sub = submods.get(node.attr)
                        if sub in self.module_classes:
                            add_class(self.module_classes[sub], ("forward", "__call__"))
                    elif base in self.module_classes:
                        cls = self.module_classes[base]
                        add_class(cls, (node.attr, "forward") if node.attr == "apply" else (node.attr,))

    def _check_forward(self) -> None:
        compute: list[tuple[str, int]] = []
        for fn, owner in self.forward_funcs:
            self_name = None
            is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod"
                            for d in getattr(fn, "decorator_list", []))
            if owner is not None and not is_static and isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and fn.args.args:
                self_name = fn.args.args[0].arg
            owner_submods = self._submodule_classes(owner) if owner is not None else {}
            for deco in getattr(fn, "decorator_list", []):
                q = self.resolve(deco.func if isinstance(deco, ast.Call) else deco)
                if q is not None and q in self.py.forward.caching_decorators:
                    self.emit("STATE_WRITE_IN_FORWARD", deco, f"@{q} on {fn.name}")
            for node in ast.walk(fn):
                self._check_forward_node(node, self_name, owner_submods, compute)
        if compute:
            labels: list[str] = []
            for label, _ in compute:
                if label not in labels:
                    labels.append(label)
            first_line = min(line for _, line in compute)
            self.emit("TORCH_COMPUTE_IN_FORWARD", first_line, ", ".join(labels))

    def _is_state_root(self, name: str | None, self_name: str | None) -> bool:
        return name is not None and (name == self_name or name in self.module_vars)

    def _check_forward_node(self, node: ast.AST, self_name: str | None,
                            submods: dict[str, str], compute: list[tuple[str, int]]) -> None:
        fw = self.py.forward
        try_star = getattr(ast, "TryStar", None)
        if isinstance(node, ast.Try) or (try_star is not None and isinstance(node, try_star)):
            swallows = bool(node.handlers) or any(
                isinstance(s, (ast.Return, ast.Break, ast.Continue))
                for b in node.finalbody for s in ast.walk(b))
            if swallows:
                self.emit("TRY_IN_FORWARD", node, "try/except")
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                expr = item.context_expr
                func = expr.func if isinstance(expr, ast.Call) else expr
                q = self.resolve(func)
                if q is not None and q in fw.suppress_context_managers:
                    self.emit("TRY_IN_FORWARD", node, f"with {unparse(expr)}")
                elif isinstance(func, ast.Name) and func.id in self.module_classes \
                        and "__exit__" in self._methods(self.module_classes[func.id]):
                    self.emit("TRY_IN_FORWARD", node, f"with {func.id}(...) (its __exit__ can swallow exceptions)")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            kind = "global" if isinstance(node, ast.Global) else "nonlocal"
            self.emit("STATE_WRITE_IN_FORWARD", node, f"{kind} {', '.join(node.names)}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)) \
                        and self._is_state_root(attr_root_name(t), self_name):
                    self.emit("STATE_WRITE_IN_FORWARD", node, f"{unparse(t)} = ...")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            compute.append(("@ (matmul operator)", node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr in fw.caching_attrs:
            self.emit("RESULT_CACHING", node, unparse(node))

        if not isinstance(node, ast.Call):
            return
        func = node.func
        if name := self.builtin(func, fw.caching_builtins):
            self.emit("RESULT_CACHING", node, f"{name}(...)")
        if isinstance(func, ast.Attribute):
            if func.attr in fw.host_sync_methods:
                self.emit("HOST_SYNC", node, f".{func.attr}()")
            elif func.attr == "to":
                device_args = list(node.args[:1]) + [k.value for k in node.keywords if k.arg == "device"]
                if any(isinstance(a, ast.Constant) and a.value in fw.host_device_names for a in device_args):
                    self.emit("HOST_SYNC", node, ".to('cpu')")
            if func.attr in fw.mutating_methods \
                    and self._is_state_root(attr_root_name(func.value), self_name):
                self.emit("STATE_WRITE_IN_FORWARD", node, f"{unparse(func)}(...)")
            if isinstance(func.value, ast.Name) and func.value.id == self_name and func.attr in submods:
                target = submods[func.attr]
                if target.startswith("torch.nn.") and target not in fw.nn_module_allowlist:
                    compute.append((f"self.{func.attr} ({target})", node.lineno))
        q = self.resolve(func)
        if q is not None:
            if any(any(qual_match(q, e) for e in entries) for entries in self.py.qualname_rules.values()):
                return  # already reported under its own rule
            op = self._compute_op(q)
            if op is not None and op not in fw.compute_allowlist:
                compute.append((q, node.lineno))
        elif isinstance(func, ast.Attribute) and func.attr in fw.compute_methods \
                and unparse(func.value) not in self.extension_refs:
            compute.append((f".{func.attr}()", node.lineno))

    def _compute_op(self, q: str) -> str | None:
        for ns in sorted(self.py.forward.compute_namespaces, key=len, reverse=True):
            if q.startswith(ns + "."):
                tail = q[len(ns) + 1:].split(".")
                if ns == "torch" and len(tail) != 1:
                    return None
                return tail[0]
        return None

    # -- build guards ----------------------------------------------------------------------------

    def _check_build_guards(self) -> None:
        builders = self.py.build.builders
        suppress = self.py.forward.suppress_context_managers

        def builds(stmts: list[ast.stmt]) -> bool:
            for stmt in stmts:
                for sub in ast.walk(stmt):
                    if isinstance(sub, ast.Call) and self.resolve(sub.func) in builders:
                        return True
            return False

        for node in self.nodes:
            if id(node) in self.forward_nodes:
                continue
            if isinstance(node, ast.Try) and node.handlers and builds(node.body):
                self.emit("TRY_AROUND_BUILD", node, "try/except")
            elif isinstance(node, (ast.With, ast.AsyncWith)) and builds(node.body):
                for item in node.items:
                    expr = item.context_expr
                    func = expr.func if isinstance(expr, ast.Call) else expr
                    if self.resolve(func) in suppress:
                        self.emit("TRY_AROUND_BUILD", node, f"with {unparse(expr)}")
