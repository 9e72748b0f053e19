"""The gate's findings and result, and the sink that collects them (de-duplicated, waivers applied)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel

from kernelwright.sandbox.policy import StaticPolicy

Origin = Literal["python", "native"]

_EXCERPT_MAX = 200
_NAME_MAX = 160


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


class Sink:
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
