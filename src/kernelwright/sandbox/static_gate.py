"""The static gate: AST rules on a candidate's Python and pattern rules on its C++/CUDA text.

Runs in milliseconds, before anything is compiled or imported. Hard rules reject the candidate
(verdict STATIC_REJECT); soft rules flag it for the Judge and the report. Every rule id, severity,
message, banned list, regex and header allowlist is data in ``sandbox/static_rules.toml``
(:mod:`kernelwright.sandbox.policy`); the matching logic is in :mod:`kernelwright.sandbox.gate`.

The gate is a first filter, not the defence: candidates that build banned names at run time (string
concatenation, token pasting) are caught by the structural rules of the verifier (nothing trusted in
the candidate's process, fresh inputs, device-wide sync before the end event). Pass the native sources
the harness recorded from load_inline as ``native_sources`` to close the string-building gap on the
C++ side.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from typing import Literal

from kernelwright.sandbox.gate.findings import Finding, GateResult, Sink
from kernelwright.sandbox.gate.native import scan_native
from kernelwright.sandbox.gate.pyast import python_string_literals
from kernelwright.sandbox.gate.python_forward import ForwardRules
from kernelwright.sandbox.gate.python_rules import ModuleRules
from kernelwright.sandbox.policy import StaticPolicy, load_static_policy

__all__ = ["Finding", "GateResult", "static_gate"]


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
    sink = Sink(policy, allow)

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
        for text, to_py_line in python_string_literals(tree):
            scan_native(text, policy=policy, backend=backend, sink=sink, origin="python",
                        where="py", map_line=to_py_line, context="in a Python string literal")

    for index, text in enumerate(native_sources or []):
        scan_native(text, policy=policy, backend=backend, sink=sink, origin="native",
                    where=f"native{index}", map_line=None,
                    context=f"native source {index + 1}", skip_known_excerpts=True)

    if flags:
        scan_native("\n".join(flags), policy=policy, backend=backend, sink=sink, origin="native", where="flags",
                    map_line=None, context="the compiler flags asked of load_inline")

    findings = sorted(sink.findings, key=lambda f: (f.severity != "reject", f.origin, f.line or 0))
    return GateResult(findings=findings)


class _PythonChecker(ModuleRules, ForwardRules):
    """Every Python rule, in order."""

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
