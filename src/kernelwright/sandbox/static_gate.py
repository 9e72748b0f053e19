"""The static gate: AST rules on a candidate's Python and pattern rules on its C++/CUDA text.

Runs in milliseconds, before anything is compiled or imported. Hard rules reject the candidate
(verdict STATIC_REJECT); soft rules flag it for the Judge and the report. Every rule id, severity,
message, banned list, regex and header allowlist is data in ``sandbox/static_rules.toml``
(:mod:`kernelwright.sandbox.policy`); this module holds only the matching logic.

The gate is a first filter, not the defence: candidates that build banned names at run time (string
concatenation, token pasting) are caught by the structural rules of the verifier (nothing trusted in
the candidate's process, fresh inputs, device-wide sync before the end event). Pass the native sources
the harness recorded from load_inline as ``native_sources`` to close the string-building gap on the
C++ side.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Literal

from pydantic import BaseModel

from kernelwright.sandbox.policy import Backend, StaticPolicy, load_static_policy

Origin = Literal["python", "native"]

_EXCERPT_MAX = 200
_NAME_MAX = 160


# Submodules of allowed packages that share a name with a banned module but are not it.
REAL_SUBMODULES = frozenset({"torch.signal", "torch.random"})


class Finding(BaseModel):
    """One rule hit. ``line`` is 1-based in the Python source (for Python rules and for native rules
    matched inside Python string literals) or in the native source named by the message."""

    rule: str
    severity: Literal["reject", "flag"]
    message: str
    line: int | None
    origin: Origin
    excerpt: str | None = None


class GateResult(BaseModel):
    findings: list[Finding] = []

    @property
    def rejected(self) -> bool:
        return any(f.severity == "reject" for f in self.findings)

    @property
    def rejects(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "reject"]

    @property
    def flags(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "flag"]

    def rule_ids(self, severity: Literal["reject", "flag"] | None = None) -> set[str]:
        return {f.rule for f in self.findings if severity is None or f.severity == severity}

    def render(self) -> str:
        """Plain-text list for a Coder prompt or a log."""
        lines = []
        for f in self.findings:
            where = f" line {f.line}" if f.line is not None else ""
            lines.append(f"[{f.severity.upper()} {f.rule}]{where}: {f.message}")
        return "\n".join(lines)


def static_gate(
    python_source: str,
    native_sources: list[str] | None = None,
    *,
    backend: Literal["cuda", "cpu"] = "cuda",
    policy: StaticPolicy | None = None,
    flags: list[str] | None = None,
    allow: Collection[str] = (),
) -> GateResult:
    """Check a candidate before it is compiled.

    ``python_source`` is the candidate module (defines ``ModelNew``). ``native_sources`` are the C++ /
    CUDA texts it passes to load_inline, when the harness has recorded them; C++/CUDA held in the
    Python source's string literals is scanned in any case. ``flags``: the compiler flags it asked
    load_inline for, as recorded (the harness never uses them, but asking for fast math is found). ``allow``:
    the task's declarations that waive rules (e.g. "allow_fast_math": NATIVE_FAST_MATH only flags).
    """
    if backend not in ("cuda", "cpu"):
        raise ValueError(f"backend must be 'cuda' or 'cpu', not {backend!r}")
    policy = policy or load_static_policy()
    sink = _Sink(policy, allow)

    tree: ast.Module | None
    try:
        tree = ast.parse(python_source)
    except SyntaxError as exc:
        detail = f"{exc.msg} at line {exc.lineno}" if exc.lineno else str(exc.msg)
        sink.emit("PY_SYNTAX", origin="python", line=exc.lineno, name=detail,
                  excerpt=(exc.text or "").strip() or None)
        tree = None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        sink.emit("PY_SYNTAX", origin="python", line=None, name=type(exc).__name__)
        tree = None

    if tree is not None:
        _PythonChecker(tree, python_source, policy, backend, sink).run()
        for text, to_py_line in _python_string_literals(tree):
            _scan_native(text, policy=policy, backend=backend, sink=sink, origin="python",
                         where="py", map_line=to_py_line, context="in a Python string literal")

    for index, text in enumerate(native_sources or []):
        _scan_native(text, policy=policy, backend=backend, sink=sink, origin="native",
                     where=f"native{index}", map_line=None,
                     context=f"native source {index + 1}", skip_known_excerpts=True)

    if flags:
        _scan_native("\n".join(flags), policy=policy, backend=backend, sink=sink, origin="native", where="flags",
                     map_line=None, context="the compiler flags asked of load_inline")

    findings = sorted(sink.findings, key=lambda f: (f.severity != "reject", f.origin, f.line or 0))
    return GateResult(findings=findings)


# ------------------------------------------------------------------------------------------ findings


class _Sink:
    """Collects findings, de-duplicated per (rule, place, line, name) and for native rules per
    (rule, place, line)."""

    def __init__(self, policy: StaticPolicy, allow: Collection[str] = ()) -> None:
        self.policy = policy
        self.allow = frozenset(allow)
        self.findings: list[Finding] = []
        self._seen: set[tuple] = set()
        self.python_native_excerpts: set[tuple[str, str]] = set()  # (rule, excerpt) from py strings

    def emit(self, rule_id: str, *, origin: Origin, line: int | None, name: str | None = None,
             excerpt: str | None = None, dedup: tuple | None = None, context: str | None = None) -> bool:
        spec = self.policy.rule(rule_id)
        key = dedup if dedup is not None else (rule_id, origin, line, name)
        if key in self._seen:
            return False
        self._seen.add(key)
        if name is not None and len(name) > _NAME_MAX:
            name = name[: _NAME_MAX - 3] + "..."
        message, severity = spec.render(name), spec.severity
        if spec.waived_by is not None and spec.waived_by in self.allow:
            severity = "flag"
            message = f"{message} [allowed here: the task declares {spec.waived_by.upper()}]"
        if context:
            message = f"{message} ({context}, line {line})" if line is not None else f"{message} ({context})"
        if excerpt is not None:
            excerpt = excerpt.strip()
            if len(excerpt) > _EXCERPT_MAX:
                excerpt = excerpt[: _EXCERPT_MAX - 3] + "..."
        self.findings.append(Finding(rule=rule_id, severity=severity, message=message, line=line,
                                     origin=origin, excerpt=excerpt or None))
        return True


# ------------------------------------------------------------------------------------ native rules


def _strip_native(text: str) -> tuple[str, list[int]]:
    """Splice backslash-newlines and remove // and /* */ comments, keeping string and character
    literals. Returns the cleaned text and the 1-based original line of every cleaned character."""
    # Pass 1: line splices ("\\\n"), as the preprocessor does before anything else.
    chars: list[str] = []
    lines: list[int] = []
    line = 1
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if text.startswith("\n", i + 1):
                i += 2
                line += 1
                continue
            if text.startswith("\r\n", i + 1):
                i += 3
                line += 1
                continue
        chars.append(c)
        lines.append(line)
        if c == "\n":
            line += 1
        i += 1

    # Pass 2: comments out, literals kept.
    src = "".join(chars)
    out: list[str] = []
    out_lines: list[int] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "/" and i + 1 < n and src[i + 1] == "/":
            end = src.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "/" and i + 1 < n and src[i + 1] == "*":
            end = src.find("*/", i + 2)
            out.append(" ")
            out_lines.append(lines[i])
            i = n if end < 0 else end + 2
            continue
        if c == '"':
            raw = re.search(r'(?:^|[^\w])(?:u8|u|U|L)?R$', src[max(0, i - 4): i]) is not None
            if raw:
                paren = src.find("(", i + 1)
                delim = src[i + 1: paren] if paren >= 0 else ""
                end = src.find(f"){delim}\"", paren + 1) if paren >= 0 and len(delim) <= 16 else -1
                stop = n if end < 0 else end + len(delim) + 2
            else:
                j = i + 1
                while j < n and src[j] != '"' and src[j] != "\n":
                    j += 2 if src[j] == "\\" else 1
                stop = min(j + 1, n)
            out.append(src[i:stop])
            out_lines.extend(lines[i:stop])
            i = stop
            continue
        if c == "'" and not (i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_")):
            j = i + 1
            while j < n and src[j] != "'" and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            stop = min(j + 1, n)
            out.append(src[i:stop])
            out_lines.extend(lines[i:stop])
            i = stop
            continue
        out.append(c)
        out_lines.append(lines[i])
        i += 1
    return "".join(out), out_lines


def _scan_native(text: str, *, policy: StaticPolicy, backend: Backend, sink: _Sink, origin: Origin,
                 where: str, map_line: Callable[[int], int] | None, context: str,
                 skip_known_excerpts: bool = False) -> None:
    """Apply the native pattern rules, the header allowlist and the torch-call check to one text."""
    if not text.strip():
        return
    clean, line_of = _strip_native(text)
    raw_lines = text.splitlines()
    hit_lines: set[int] = set()  # lines of this text with a pattern hit

    def report(rule_id: str, pos: int, name: str) -> None:
        native_line = line_of[min(pos, len(line_of) - 1)] if line_of else 1
        excerpt = raw_lines[native_line - 1] if 0 < native_line <= len(raw_lines) else None
        line = map_line(native_line) if map_line is not None else native_line
        norm_excerpt = (excerpt or "").strip()
        if skip_known_excerpts and (rule_id, norm_excerpt) in sink.python_native_excerpts:
            return  # the same line was already reported from the Python string literal
        emitted = sink.emit(rule_id, origin="native", line=line, name=" ".join(name.split()),
                            excerpt=excerpt, dedup=(rule_id, where, line), context=context)
        if emitted and origin == "python":
            sink.python_native_excerpts.add((rule_id, norm_excerpt))
        hit_lines.add(native_line)

    for rule_id, regex in policy.native_rule_regexes(backend):
        for match in regex.finditer(clean):
            report(rule_id, match.start(), match.group(0))

    for match in policy.optimize_re.finditer(clean):
        unchecked = _optimize_options(match.group("rest"), policy.native.optimize_allowed)
        if unchecked:
            report("NATIVE_FAST_MATH", match.start(), f"{match.group(0).strip()[:80]} (options {', '.join(unchecked)})")

    for match in policy.torch_call_re.finditer(clean):
        op = match.group("op")
        if op not in policy.native.torch_call_allowlist:
            report("LIBRARY_CALL_NATIVE", match.start(), match.group(0).rstrip("( \t\n"))

    headers = policy.native.headers
    for match in policy.include_re.finditer(clean):
        header = (match.group("angle") or match.group("quote") or match.group("other") or "").strip()
        if line_of[min(match.start(), len(line_of) - 1)] in hit_lines:
            continue  # a more specific rule already reported this line
        if headers.allowed(header, backend):
            continue
        if header and headers.library(header):
            report("NATIVE_LIBRARY_INCLUDE", match.start(), header)
        else:
            report("NATIVE_INCLUDE_UNKNOWN", match.start(), header or "(empty)")


def _optimize_options(rest: str, allowed: frozenset[str]) -> list[str]:
    """The options of an optimize pragma or attribute (the text after its keyword, to the end of the line) that
    are not in `allowed`: adjacent string literals are joined as the compiler joins them, a leading -f or - is
    dropped, and anything that is not a string or a number (a macro) is returned as it stands."""
    text = rest.replace('\\"', '"')
    if text.lstrip().startswith("("):  # the parenthesised argument list, up to its closing parenthesis
        depth, end = 0, len(text)
        for i, c in enumerate(text):
            depth += (c == "(") - (c == ")")
            if depth == 0 and c == ")":
                end = i
                break
        text = text[text.index("(") + 1:end]
    text = re.sub(r'"\s*"', "", text)  # "O" "fast" is "Ofast"
    options: list[str] = []
    for part in re.findall(r'"[^"]*"|[^\s,"]+', text):
        options += part.strip('"').split(",") if part.startswith('"') else [part]
    unchecked = []
    for option in (o.strip() for o in options):
        name = option[2:] if option.startswith("-f") else option.lstrip("-")
        if option and name not in allowed:
            unchecked.append(option)
    return unchecked


def _python_string_literals(tree: ast.AST) -> Iterator[tuple[str, Callable[[int], int]]]:
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


# ------------------------------------------------------------------------------------ Python rules


def _qual_match(qualname: str, entry: str) -> bool:
    if entry.endswith("*"):
        return qualname.startswith(entry[:-1])
    return qualname == entry or qualname.startswith(entry + ".")


def _attr_root_name(node: ast.AST) -> str | None:
    """Root name of a pure attribute / subscript chain (no calls)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _unparse(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - ast.unparse handles every parsed node
        return type(node).__name__


def _is_empty_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in (None, False, "", 0)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_is_empty_literal(e) for e in node.elts)
    return False


class _PythonChecker:
    def __init__(self, tree: ast.Module, source: str, policy: StaticPolicy, backend: Backend,
                 sink: _Sink) -> None:
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
        root = _attr_root_name(node)
        return root is not None and root in self.aliases

    def builtin(self, node: ast.AST, names: Iterable[str]) -> str | None:
        if isinstance(node, ast.Name) and node.id in names and node.id not in self.shadowed:
            return node.id
        return None

    # -- driver ----------------------------------------------------------------------------------

    def run(self) -> None:
        self._index()
        self._check_imports()
        self._check_modelnew()
        self._find_forward_path()
        self._check_names_and_chains()
        self._check_calls()
        self._check_assignments()
        self._check_classes()
        self._check_forward()
        self._check_build_guards()

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
                    or _unparse(value) in self.extension_refs
                if is_ext:
                    for t in node.targets:
                        if isinstance(t, (ast.Name, ast.Attribute)):
                            self.extension_refs.add(_unparse(t))

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

    # -- imports ---------------------------------------------------------------------------------

    def _check_module(self, module: str, node: ast.AST, *, banned_only: bool = False) -> None:
        for entry in self.py.banned_modules:
            if _qual_match(module, entry):
                self.reported_modules.add(entry)
                self.emit("BANNED_MODULE", node, module)
                return
        if banned_only:
            return
        for entry in self.py.flagged_modules:
            if _qual_match(module, entry):
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
            if any(_qual_match(q, e) for e in entries):
                self.emit(rule_id, node, q)
                hit = True
        for entry in self.py.banned_modules:
            if entry not in self.reported_modules and "." in entry and _qual_match(q, entry):
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
            if _qual_match(q, ns) and q != ns:
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
                    self.emit("REFERENCE_MODEL_USE", node, _unparse(node))
                parent = self.parents.get(id(node))
                if node.attr in self.py.module_table_attrs and not (isinstance(parent, ast.Call) and parent.func is node):
                    self.emit("STRING_REACH", node, _unparse(node))
                if node.attr in self.py.introspection_attrs and not isinstance(node.ctx, ast.Store):
                    self.emit("INTROSPECTION", node, _unparse(node))
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
                shown = f"{fname}({', '.join(_unparse(a) for a in node.args[:2])}, ...)"
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
                shown = _unparse(func)
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
            elif kw.arg in build.extra_flag_kwargs and not _is_empty_literal(kw.value):
                self.emit("LOAD_INLINE_EXTRA_FLAGS", kw.value, f"{kw.arg}={_unparse(kw.value)}")
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
            if self.backend == "cpu" and kw.arg in build.cuda_source_kwargs and not _is_empty_literal(kw.value):
                self.emit("CUDA_ON_CPU_BACKEND", kw.value, f"{kw.arg}=")
        if self.backend == "cpu" and q.endswith("load_inline") and len(node.args) > 2 \
                and not _is_empty_literal(node.args[2]):
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
                shown = _unparse(target)
                if target.attr in self.py.class_mutation_attrs:
                    self.emit("CLASS_MUTATION", target, shown)
                if target.attr in self.py.lazy_tensor_hooks:
                    self.emit("LAZY_TENSOR", target, shown)
                if self.module_bound(target):
                    q = self.resolve(target) or shown
                    in_flag_ns = any(_qual_match(q, ns) for ns in self.py.global_flag_namespaces)
                    if not in_flag_ns and not self._os_rejected(q):  # those have their own rules
                        self.emit("MONKEYPATCH", target, shown)
            elif isinstance(target, ast.Subscript):
                root = _attr_root_name(target.value)
                if root is not None and root in self.aliases:
                    q = self.resolve(target.value) or _unparse(target.value)
                    if not self._os_rejected(q):
                        self.emit("MONKEYPATCH", target, _unparse(target))
            elif isinstance(target, ast.Name) and target.id == self.py.modelnew_class:
                self.emit("MODELNEW_BASE", target, f"{target.id} rebound by assignment")

    # -- classes ---------------------------------------------------------------------------------

    def _lazy_base(self, base: ast.AST, seen: set[str]) -> str | None:
        q = self.resolve(base)
        if q is not None and any(_qual_match(q, e) for e in self.py.lazy_tensor_bases):
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
                    self.emit("LAZY_TENSOR", node, f"class {node.name}({_unparse(base)}) subclasses {found}")
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
                shown = ", ".join(_unparse(b) for b in cls.bases) or "no base class"
                self.emit("MODELNEW_BASE", cls, f"class {name}({shown})")
            for base in cls.bases:
                q = self.resolve(base)
                raw = _unparse(base)
                ok = q in self.py.allowed_model_bases if (q is not None and self.module_bound(base)) \
                    else raw in self.py.allowed_model_bases_unresolved
                if not ok:
                    self.emit("MODELNEW_BASE", cls, f"base class {raw}")
            for kw in cls.keywords:
                self.emit("MODELNEW_BASE", cls, f"class keyword {kw.arg}=")
            for deco in cls.decorator_list:
                self.emit("MODELNEW_BASE", deco, f"decorator @{_unparse(deco)}")
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
                    self.emit("TRY_IN_FORWARD", node, f"with {_unparse(expr)}")
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
                        and self._is_state_root(_attr_root_name(t), self_name):
                    self.emit("STATE_WRITE_IN_FORWARD", node, f"{_unparse(t)} = ...")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            compute.append(("@ (matmul operator)", node.lineno))
        elif isinstance(node, ast.Attribute) and node.attr in fw.caching_attrs:
            self.emit("RESULT_CACHING", node, _unparse(node))

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
                    and self._is_state_root(_attr_root_name(func.value), self_name):
                self.emit("STATE_WRITE_IN_FORWARD", node, f"{_unparse(func)}(...)")
            if isinstance(func.value, ast.Name) and func.value.id == self_name and func.attr in submods:
                target = submods[func.attr]
                if target.startswith("torch.nn.") and target not in fw.nn_module_allowlist:
                    compute.append((f"self.{func.attr} ({target})", node.lineno))
        q = self.resolve(func)
        if q is not None:
            if any(any(_qual_match(q, e) for e in entries) for entries in self.py.qualname_rules.values()):
                return  # already reported under its own rule
            op = self._compute_op(q)
            if op is not None and op not in fw.compute_allowlist:
                compute.append((q, node.lineno))
        elif isinstance(func, ast.Attribute) and func.attr in fw.compute_methods \
                and _unparse(func.value) not in self.extension_refs:
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
                        self.emit("TRY_AROUND_BUILD", node, f"with {_unparse(expr)}")
