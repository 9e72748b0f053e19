"""What the agents are shown of a verification and a profile: the facts that matter, capped to fit a prompt."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from ..profile.models import ProfileReport
from ..sandbox.build import trim_errors
from ..verify.compare import Mismatch
from ..verify.models import TrialFailure, VerificationResult

MAX_FAILURES = 4
MAX_FINDINGS = 8
MAX_FLAGS = 8
MAX_LINE = 400
MAX_SUMMARY = 800
MAX_COMPILE_LINES = 30
MAX_COMPILE_CHARS = 3000
MAX_ERROR_CHARS = 2000
MAX_PTXAS_LINES = 12
MAX_LIBRARY_OPS = 5

# Build folders are temporary and differ per build; the file name and line are what the Coder can use.
BUILD_PATH = re.compile(r"(?<![\w/.\-+])(?:/[\w.\-+]+)+/([\w.\-+]+\.(?:cpp|cuh|cu|hpp|h|o|so|ninja|py))\b")


class FailureDigest(BaseModel):
    """One failed trial or probe: where (shape, sizes, distribution, trial) and by how much (its first wrong output)."""

    line: str
    first: Mismatch
    other_outputs: int = 0


class FindingDigest(BaseModel):
    rule: str
    severity: str
    line: int | None = None
    message: str
    excerpt: str | None = None


class TimingDigest(BaseModel):
    method: str | None = None
    candidate_ms: float | None = None
    candidate_iqr_ms: float | None = None
    eager_ms: float | None = None
    compile_ms: float | None = None
    speedup_eager: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    faster: bool | None = None
    speedup_compile: float | None = None
    ci_compile_low: float | None = None
    ci_compile_high: float | None = None
    faster_than_compile: bool | None = None
    floor_ms: float | None = None
    shape: dict[str, int] = Field(default_factory=dict)
    perf: str | None = None
    error: str | None = None


class Evidence(BaseModel):
    """A VerificationResult digested for a prompt."""

    verdict: str
    reason: str | None = None
    summary: str
    trials_run: int | None = None
    trials_passed: int | None = None
    failures: list[FailureDigest] = Field(default_factory=list)
    more_failures: int = 0
    failed_shapes: list[str] = Field(default_factory=list)
    failed_distributions: list[str] = Field(default_factory=list)
    compile_errors: str | None = None
    error: str | None = None
    findings: list[FindingDigest] = Field(default_factory=list)
    more_findings: int = 0
    flags: list[str] = Field(default_factory=list)
    probes: dict[str, str] = Field(default_factory=dict)
    own_kernel_share: float | None = None
    library_ops: dict[str, float] = Field(default_factory=dict)  # op -> microseconds inside forward()
    ptxas: str | None = None
    slow_layout: bool = False  # CUDA sources that include torch headers (several times slower to build)
    timing: TimingDigest | None = None


class ProfileDigest(BaseModel):
    """A profile for a prompt: which tool, why not ncu when it was not, and its highlights."""

    tool: str
    device: str
    ok: bool
    fallback: str | None = None
    error: str | None = None
    highlights: list[str] = Field(default_factory=list)
    explained: bool = False  # the highlights already say why ncu was not used


def evidence_from(result: VerificationResult) -> Evidence:
    report = result.correctness
    failures = report.failures if report else []
    compile_errors = _compile_errors(result)
    attribution = report.attribution if report else {}
    library_ops = attribution.get("library_ops") or {}
    return Evidence(
        verdict=result.verdict,
        reason=result.reason,
        summary=_cap(_first_line(result.summary) if compile_errors else result.summary, MAX_SUMMARY),
        trials_run=report.trials_run if report else None,
        trials_passed=report.trials_passed if report else None,
        failures=[_failure(f) for f in failures[:MAX_FAILURES]],
        more_failures=max(0, len(failures) - MAX_FAILURES),
        failed_shapes=_unique(f.shape for f in failures),
        failed_distributions=_unique(f.distribution for f in failures),
        compile_errors=compile_errors,
        error=None if compile_errors or not result.error else _tail(_short_paths(result.error), MAX_ERROR_CHARS),
        findings=[_finding(f) for f in _ordered(result.findings)[:MAX_FINDINGS]],
        more_findings=max(0, len(result.findings) - MAX_FINDINGS),
        flags=[_cap(f, MAX_LINE) for f in _unique(_new_flags(result))[:MAX_FLAGS]],
        probes={k: _cap(v, MAX_LINE) for k, v in (report.probes if report else {}).items()},
        own_kernel_share=report.own_kernel_share if report else None,
        library_ops={op: round(_num(us), 1) for op, us in
                     sorted(library_ops.items(), key=lambda kv: -_num(kv[1]))[:MAX_LIBRARY_OPS]},
        ptxas=_ptxas(result.builds),
        slow_layout=result.device.startswith("cuda") and any(b.get("ok") and not b.get("fast_layout")
                                                             for b in result.builds),
        timing=_timing(result.timing),
    )


def profile_digest(report: ProfileReport | None) -> ProfileDigest | None:
    """The profile's own highlights, and whether they already say why ncu was not used."""
    if report is None:
        return None
    lines = [line for line in report.highlights() if line.strip()]
    return ProfileDigest(tool=report.tool, device=report.device, ok=report.ok, fallback=report.fallback,
                         error=_cap(report.error, MAX_LINE) if report.error else None, highlights=lines,
                         explained=any(report.fallback in line for line in lines) if report.fallback else False)


def _failure(failure: TrialFailure) -> FailureDigest:
    return FailureDigest(line=_cap(failure.line(), MAX_LINE), first=failure.mismatches[0],
                         other_outputs=len(failure.mismatches) - 1)


def _finding(finding: dict[str, Any]) -> FindingDigest:
    excerpt = finding.get("excerpt")
    return FindingDigest(rule=str(finding.get("rule", "?")), severity=str(finding.get("severity", "?")),
                         line=finding.get("line"), message=_cap(str(finding.get("message", "")), MAX_LINE),
                         excerpt=_cap(excerpt, 200) if excerpt else None)


def _ordered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(findings, key=lambda f: f.get("severity") != "reject")


def _compile_errors(result: VerificationResult) -> str | None:
    if result.verdict not in ("COMPILE_FAIL", "TIMEOUT") or result.reason != "build":
        return None
    failed = next((b for b in result.builds if not b.get("ok")), {})
    text = failed.get("errors") or result.error or ""
    if failed.get("timed_out"):
        return trim_errors(text, None, timed_out=True)
    trimmed = trim_errors(text, text, False, max_lines=MAX_COMPILE_LINES)
    if not trimmed:
        return None
    return _cap(_short_paths(trimmed), MAX_COMPILE_CHARS)


def _new_flags(result: VerificationResult) -> list[str]:
    """Flags that do not repeat a finding (the gate's flags are listed as findings already)."""
    shown = tuple(f"{finding.get('rule')}: " for finding in result.findings)
    return [f.message for f in result.flags
            if f.code != "gate" and not (f.code == "legacy" and f.message.startswith(shown))]


def _ptxas(builds: list[dict[str, Any]]) -> str | None:
    lines = [line for b in builds for line in (b.get("ptxas") or "").splitlines()
             if any(word in line for word in ("entry function", "registers", "spill"))]
    return "\n".join(_short_paths(line) for line in lines[:MAX_PTXAS_LINES]) or None


def _timing(timing: dict[str, Any] | None) -> TimingDigest | None:
    if not timing:
        return None
    candidate = (timing.get("subjects") or {}).get("candidate") or {}
    fields = {name: timing.get(name) for name in TimingDigest.model_fields if name in timing}
    return TimingDigest.model_validate({
        **fields, "candidate_iqr_ms": candidate.get("iqr_ms"), "shape": timing.get("shape_overrides") or {},
        "error": _cap(timing["error"], MAX_LINE) if timing.get("error") else None,
    })


def _short_paths(text: str) -> str:
    return BUILD_PATH.sub(r"\1", text)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text.strip() else text


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3):]
