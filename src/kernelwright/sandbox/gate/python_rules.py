"""Python rules over the whole module: imports, qualified names, builtins, calls, load_inline, assignments."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from kernelwright.sandbox.gate.pyast import attr_root_name, is_empty_literal, qual_match, unparse
from kernelwright.sandbox.gate.python_index import PythonIndex

# Submodules of allowed packages that share a name with a banned module but are not it.
REAL_SUBMODULES = frozenset({"torch.signal", "torch.random"})


class ModuleRules(PythonIndex):
    """Rules over every statement of the module."""

    # -- imports ---------------------------------------------------------------------------------

    def _check_module(self, module: str, node: ast.AST, *, banned_only: bool = False) -> None:
        for entry in self.py.banned_modules:
            if qual_match(module, entry):
                self.reported_modules.add(entry)
                self.emit("BANNED_MODULE", node, module)
                return
        if banned_only:
            return
        for entry in self.py.flagged_modules:
            if qual_match(module, entry):
                self.emit("FLAGGED_MODULE", node, module)
                return
        if module.split(".")[0] not in self.py.allowed_modules:
            self.emit("UNLISTED_MODULE", node, module)

    def _check_imports(self) -> None:
        refs = set(self.py.reference_names)
        for node in self.nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._check_module(alias.name, node)
                    self._check_qualname(alias.name, node)
                    if alias.asname in refs or alias.name.split(".")[-1] in refs:
                        self.emit("REFERENCE_MODEL_USE", node, f"import {alias.name}")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    self.emit("BANNED_MODULE", node, f"relative import {'.' * node.level}{node.module or ''}")
                    continue
                module = node.module or ""
                self._check_module(module, node)
                for alias in node.names:
                    if alias.name == "*":
                        self.emit("STAR_IMPORT", node, module)
                        continue
                    full = f"{module}.{alias.name}"
                    self._check_module(full, node, banned_only=True)
                    self._check_qualname(full, node)
                    if alias.name in refs or alias.asname in refs:
                        self.emit("REFERENCE_MODEL_USE", node, f"from {module} import {alias.name}")

    # -- qualified names -------------------------------------------------------------------------

    def _check_qualname(self, q: str, node: ast.AST, *, is_call: bool = False,
                        is_store: bool = False) -> bool:
        """Rules keyed on a resolved dotted name. Returns True when a rule matched."""
        hit = False
        for rule_id, entries in self.py.qualname_rules.items():
            if any(qual_match(q, e) for e in entries):
                self.emit(rule_id, node, q)
                hit = True
        for entry in self.py.banned_modules:
            if entry not in self.reported_modules and "." in entry and qual_match(q, entry):
                self.reported_modules.add(entry)
                self.emit("BANNED_MODULE", node, q)
                hit = True
        parts = q.split(".")
        for depth, part in enumerate(parts[1:], start=1):
            # A banned module reached as an attribute of an allowed one (torch.sys, cpp_extension.subprocess).
            prefix = ".".join(parts[: depth + 1])
            if part in self.py.banned_modules and prefix not in REAL_SUBMODULES and part not in self.reported_modules:
                self.reported_modules.add(part)
                self.emit("BANNED_MODULE", node, prefix)
                hit = True
        if self._os_rejected(q):
            self.emit("OS_CALL", node, q)
            hit = True
        for ns in self.py.global_flag_namespaces:
            if qual_match(q, ns) and q != ns:
                if is_store or (is_call and parts[-1] not in self.py.global_flag_call_allowlist):
                    self.emit("GLOBAL_FLAG", node, q)
                    hit = True
        return hit

    def _os_rejected(self, q: str) -> bool:
        parts = q.split(".")
        if parts[0] != self.py.os_module or len(parts) < 2:
            return False
        return parts[1] in self.py.os_reject_attrs or parts[1].startswith(self.py.os_reject_attr_prefixes)

    def _maximal_chains(self) -> Iterator[ast.AST]:
        for node in self.nodes:
            if isinstance(node, (ast.Attribute, ast.Name)):
                parent = self.parents.get(id(node))
                if isinstance(parent, ast.Attribute) and parent.value is node:
                    continue
                yield node

    def _check_names_and_chains(self) -> None:
        refs = set(self.py.reference_names)
        for node in self._maximal_chains():
            parent = self.parents.get(id(node))
            is_call = isinstance(parent, ast.Call) and parent.func is node
            is_store = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))
            q = self.resolve(node)
            if q is not None and not (isinstance(node, ast.Name) and is_store):
                self._check_qualname(q, node, is_call=is_call, is_store=is_store)
        for node in self.nodes:
            if isinstance(node, ast.Name):
                if node.id in refs:
                    self.emit("REFERENCE_MODEL_USE", node, node.id)
                if isinstance(node.ctx, ast.Load):
                    if name := self.builtin(node, self.py.dynamic_code_builtins):
                        self.emit("DYNAMIC_CODE", node, name)
                    if name := self.builtin(node, self.py.file_io_builtins):
                        self.emit("PY_FILE_IO", node, name)
                    if name := self.builtin(node, self.py.introspection_builtins):
                        self.emit("INTROSPECTION", node, name)
                    parent = self.parents.get(id(node))
                    if (name := self.builtin(node, self.py.dynamic_attr_builtins)) \
                            and not (isinstance(parent, ast.Call) and parent.func is node):
                        self.emit("STRING_REACH", node, f"{name} passed as a value")
            elif isinstance(node, ast.Attribute):
                if node.attr in refs:
                    self.emit("REFERENCE_MODEL_USE", node, unparse(node))
                parent = self.parents.get(id(node))
                if node.attr in self.py.module_table_attrs and not (isinstance(parent, ast.Call) and parent.func is node):
                    self.emit("STRING_REACH", node, unparse(node))
                if node.attr in self.py.introspection_attrs and not isinstance(node.ctx, ast.Store):
                    self.emit("INTROSPECTION", node, unparse(node))
                if node.attr in self.py.lazy_tensor_methods:
                    self.emit("LAZY_TENSOR", node, node.attr)

    # -- calls -----------------------------------------------------------------------------------

    def _check_calls(self) -> None:
        build = self.py.build
        for node in self.nodes:
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if fname := self.builtin(func, self.py.dynamic_attr_builtins):
                target = node.args[0] if node.args else None
                attr = node.args[1] if len(node.args) > 1 else None
                literal = isinstance(attr, ast.Constant) and isinstance(attr.value, str)
                shown = f"{fname}({', '.join(unparse(a) for a in node.args[:2])}, ...)"
                if target is not None and self.module_bound(target):
                    if fname in self.py.mutating_attr_builtins:
                        self.emit("MONKEYPATCH", node, shown)
                    else:
                        self.emit("DYNAMIC_ATTR_ON_MODULE", node, shown)
                elif attr is not None and not literal:
                    self.emit("DYNAMIC_ATTR", node, shown)
                elif literal and fname in self.py.mutating_attr_builtins:
                    if attr.value in self.py.class_mutation_attrs:
                        self.emit("CLASS_MUTATION", node, shown)
                    if attr.value in self.py.lazy_tensor_hooks:
                        self.emit("LAZY_TENSOR", node, shown)
            elif isinstance(func, ast.Attribute) and func.attr in self.py.setattr_dunders:
                shown = unparse(func)
                if self.module_bound(func.value) or (node.args and self.module_bound(node.args[0])):
                    self.emit("MONKEYPATCH", node, shown)
                else:
                    self.emit("DYNAMIC_ATTR", node, shown)

            q = self.resolve(func)
            if q is not None and q in build.builders:
                self._check_build_call(node, q)

    def _check_build_call(self, node: ast.Call, q: str) -> None:
        build = self.py.build
        for kw in node.keywords:
            if kw.arg in build.build_dir_kwargs:
                self.emit("LOAD_INLINE_BUILD_DIR", kw.value, f"{kw.arg}=")
            elif kw.arg in build.extra_flag_kwargs and not is_empty_literal(kw.value):
                self.emit("LOAD_INLINE_EXTRA_FLAGS", kw.value, f"{kw.arg}={unparse(kw.value)}")
            elif kw.arg in build.cflag_kwargs:
                asked = []
                for sub in ast.walk(kw.value):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        flag = sub.value.strip()
                        asked.append(flag)
                        if flag.startswith(build.suspicious_cflag_prefixes) and flag not in build.benign_cflags:
                            self.emit("LOAD_INLINE_EXTRA_FLAGS", sub, f"{kw.arg}: {flag}")
                fast = dict(self.policy.native_rule_regexes(self.backend)).get("NATIVE_FAST_MATH")
                found = fast.search(" ".join(asked)) if fast is not None else None
                if found is not None:  # a flag and its value as two strings ("--prec-div", "false")
                    self.emit("NATIVE_FAST_MATH", kw.value, f"{kw.arg}: {found.group(0)}")
            if self.backend == "cpu" and kw.arg in build.cuda_source_kwargs and not is_empty_literal(kw.value):
                self.emit("CUDA_ON_CPU_BACKEND", kw.value, f"{kw.arg}=")
        if self.backend == "cpu" and q.endswith("load_inline") and len(node.args) > 2 \
                and not is_empty_literal(node.args[2]):
            self.emit("CUDA_ON_CPU_BACKEND", node.args[2], "cuda_sources (positional)")

    # -- assignments -----------------------------------------------------------------------------

    def _store_targets(self) -> Iterator[ast.AST]:
        for node in self.nodes:
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = node.targets
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
            else:
                continue
            for target in targets:
                stack = [target]
                while stack:
                    t = stack.pop()
                    if isinstance(t, (ast.Tuple, ast.List)):
                        stack.extend(t.elts)
                    elif isinstance(t, ast.Starred):
                        stack.append(t.value)
                    else:
                        yield t

    def _check_assignments(self) -> None:
        for target in self._store_targets():
            if isinstance(target, ast.Attribute):
                shown = unparse(target)
                if target.attr in self.py.class_mutation_attrs:
                    self.emit("CLASS_MUTATION", target, shown)
                if target.attr in self.py.lazy_tensor_hooks:
                    self.emit("LAZY_TENSOR", target, shown)
                if self.module_bound(target):
                    q = self.resolve(target) or shown
                    in_flag_ns = any(qual_match(q, ns) for ns in self.py.global_flag_namespaces)
                    if not in_flag_ns and not self._os_rejected(q):  # those have their own rules
                        self.emit("MONKEYPATCH", target, shown)
            elif isinstance(target, ast.Subscript):
                root = attr_root_name(target.value)
                if root is not None and root in self.aliases:
                    q = self.resolve(target.value) or unparse(target.value)
                    if not self._os_rejected(q):
                        self.emit("MONKEYPATCH", target, unparse(target))
            elif isinstance(target, ast.Name) and target.id == self.py.modelnew_class:
                self.emit("MODELNEW_BASE", target, f"{target.id} rebound by assignment")
