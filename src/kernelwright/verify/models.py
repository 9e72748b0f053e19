"""Verdicts and the evidence behind them (pydantic: stored as-is, read by agents and reports)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .compare import Mismatch
from .flags import Flag

Verdict = Literal["PASS", "STATIC_REJECT", "COMPILE_FAIL", "RUNTIME_ERROR", "TIMEOUT", "INCORRECT",
                  "NONDETERMINISTIC", "SUSPECT"]
PerfVerdict = Literal["PERF_VALID", "PERF_INVALID"]


def as_number(value: Any) -> float | None:
    """A stored number as a float: None for anything else (a bool, a string, a missing value)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def speedup_counts(verdict: str | None, perf: str | None) -> bool:
    """Whether a verification's timing (if it was timed) counts: a PASS whose timing is not PERF_INVALID."""
    return verdict == "PASS" and perf != "PERF_INVALID"


class TrialFailure(BaseModel):
    trial: str
    purpose: str
    shape: str
    overrides: dict[str, int]
    distribution: str
    init: int
    mismatches: list[Mismatch]

    def line(self) -> str:
        first = self.mismatches[0]
        sizes = ", ".join(f"{k}={v}" for k, v in self.overrides.items()) or "nominal sizes"
        return (f"shape '{self.shape}' ({sizes}), {self.distribution} inputs, weights seed {self.init}"
                f" [{self.purpose} {self.trial}], output {first.output}: {first.detail}")


class CorrectnessReport(BaseModel):
    trials_run: int = 0
    trials_passed: int = 0
    dropped: list[dict[str, str]] = Field(default_factory=list)
    failures: list[TrialFailure] = Field(default_factory=list)
    probes: dict[str, str] = Field(default_factory=dict)
    probe_shape: str | None = None  # where the determinism and caching probes ran
    weights: dict[str, str] = Field(default_factory=dict)
    own_calls: dict[str, int] = Field(default_factory=dict)
    own_kernel_share: float | None = None  # share of forward() the candidate's own code did (see attribution)
    attribution: dict[str, Any] = Field(default_factory=dict)


class VerificationResult(BaseModel):
    verdict: Verdict
    reason: str | None = None
    summary: str
    task: str
    task_hash: str
    device: str
    seed: int | None = None
    flags: list[Flag] = Field(default_factory=list)
    findings: list[dict[str, Any]] = Field(default_factory=list)
    builds: list[dict[str, Any]] = Field(default_factory=list)
    correctness: CorrectnessReport | None = None
    error: str | None = None
    timing: dict[str, Any] | None = None
    perf: PerfVerdict | None = None
    sanitizer: dict[str, Any] | None = None  # compute-sanitizer's checks (a SanitizerReport), when it ran
    kernelbench: dict[str, Any] | None = None  # KernelBench-protocol figures for comparison (a KernelBenchTiming)
    isolation: dict[str, Any] | None = None
    # torch's float32 matmul precision every worker of this verification ran under ("highest"; "high" where the
    # task allows TF32), as the correctness worker read it back before the candidate loaded
    precision: str | None = None
    wall_s: float = 0.0
    phase_seconds: dict[str, float] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    @property
    def speedup_counts(self) -> bool:
        """A PASS whose timing, when it was timed, is not PERF_INVALID: only then does a speedup count."""
        return speedup_counts(self.verdict, self.perf)

    @property
    def valid_speedup_eager(self) -> float | None:
        """The speedup over eager that counts (see speedup_counts), or None."""
        return as_number((self.timing or {}).get("speedup_eager")) if self.speedup_counts else None
