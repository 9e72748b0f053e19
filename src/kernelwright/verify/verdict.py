"""The verdict of a candidate, decided in one place from typed outcomes: the gate, its import and its build
(`Preparation`), then its correctness phase and everything after it.

`decide_verdict` is pure: the pipeline collects what each phase found (`PhaseOutcomes`) and asks it after every
phase; later phases run only while it says PASS. Flags are read by code and kind, never by their text.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from .flags import Flag
from .models import CorrectnessReport, Verdict


class Decision(NamedTuple):
    verdict: Verdict
    reason: str | None
    summary: str


class SanitizerFinding(BaseModel):
    """compute-sanitizer's first failing tool."""

    tool: str
    errors: int
    sizes: str  # where it ran, e.g. "batch_size=4, features=256"
    first: list[str] = Field(default_factory=list)


class Preparation(BaseModel):
    """How a candidate failed before any of its code was called: the static gate rejected it (`rule`), importing it
    hung or failed, it builds no extension, or its build failed or hung."""

    stage: Literal["gate", "import", "build"]
    failure: Literal["rejected", "timeout", "crashed", "no_extension", "compile_error"]
    rule: str | None = None  # the gate rule that rejected it
    detail: str = ""  # the gate finding's line, the import error, the compiler's errors
    timeout_s: float = 0.0


# (stage, failure) -> the verdict and reason it decides; a gate rejection's reason is its rule
_PREPARATION: dict[tuple[str, str], tuple[Verdict, str | None]] = {
    ("gate", "rejected"): ("STATIC_REJECT", None),
    ("import", "no_extension"): ("STATIC_REJECT", "NO_EXTENSION"),
    ("import", "timeout"): ("TIMEOUT", "import"),
    ("import", "crashed"): ("RUNTIME_ERROR", "import"),
    ("build", "timeout"): ("TIMEOUT", "build"),
    ("build", "compile_error"): ("COMPILE_FAIL", "build"),
}


def decide_preparation(found: Preparation) -> Decision:
    """The verdict of a candidate stopped before its correctness phase."""
    try:
        verdict, reason = _PREPARATION[(found.stage, found.failure)]
    except KeyError:
        raise ValueError(f"no verdict for a {found.failure} at the {found.stage} stage") from None
    first = found.detail.splitlines()[0] if found.detail else ""
    summary = {
        "STATIC_REJECT": found.detail if reason != "NO_EXTENSION" else
        "the candidate builds no extension with load_inline: write the kernel yourself",
        "TIMEOUT": f"{'importing the candidate' if found.stage == 'import' else 'compilation'} took longer than "
                   f"{found.timeout_s:g} s",
        "RUNTIME_ERROR": f"importing the candidate failed: {first}",
        "COMPILE_FAIL": f"compilation failed:\n{found.detail}",
    }[verdict]
    return Decision(verdict, reason if reason is not None else found.rule, summary)


class CorrectnessOutcome(BaseModel):
    """What the correctness phase found: how its worker ended, and the trusted comparisons of what it returned."""

    timed_out: bool = False
    timeout_s: float = 0.0
    worker_ok: bool = True
    stage: str = "worker"  # where a failed worker stopped
    error: str | None = None  # a failed worker's error, or how its process ended
    out_of_memory: bool = False  # it failed for want of memory: an allocation refused, or killed at its cap
    report: CorrectnessReport = Field(default_factory=CorrectnessReport)


class PhaseOutcomes(BaseModel):
    correctness: CorrectnessOutcome
    own_share: float | None = None  # share of forward() time in the candidate's own functions
    min_own_share: float | None = None  # the task level's minimum (sandbox/attribution.toml)
    library_shares: dict[str, float] = Field(default_factory=dict)  # the top library ops and their share
    level: int | None = None
    sanitizer: SanitizerFinding | None = None  # None: clean, or not run
    timing_flags: list[Flag] | None = None  # None: not timed
    confined: bool = True  # the candidate's processes could not read the trusted expected outputs


def decide_verdict(outcomes: PhaseOutcomes) -> Decision:
    """Precedence: a correctness failure, then library work (`library_work`), then a sanitizer error, then a candidate fault while
    timed (it crashed or hung on fresh inputs), then an integrity flag while timed. A harness flag of the timing
    decides no verdict: it makes the timing PERF_INVALID, so no speedup counts. What would PASS is SUSPECT when the
    candidate ran unconfined: it could have read the expected outputs, so it counts neither as correct nor as fast."""
    decision = _decide(outcomes)
    if decision.verdict == "PASS" and not outcomes.confined:
        return Decision("SUSPECT", "unconfined",
                        f"{decision.summary}, but unconfined: the candidate's processes could read the trusted "
                        "expected outputs on this machine (no working bubblewrap), so this counts neither as correct "
                        "nor as a speedup")
    return decision


def proceeds(outcomes: PhaseOutcomes) -> bool:
    """Whether the later phases still run: everything so far passes, confinement aside (its verdict is final only
    once every phase has run, so an unconfined machine still shows what the candidate would have got)."""
    return _decide(outcomes).verdict == "PASS"


def _decide(outcomes: PhaseOutcomes) -> Decision:
    correct = _correctness(outcomes.correctness)
    if correct.verdict != "PASS":
        return correct
    share, minimum = outcomes.own_share, outcomes.min_own_share
    if minimum is not None and share is not None and share < minimum:
        top = ", ".join(f"{op} {part:.0%}" for op, part in outcomes.library_shares.items()) or "not named"
        return Decision("SUSPECT", "library_work",
                        f"only {share:.0%} of forward() time is spent in the candidate's own functions (a level-"
                        f"{outcomes.level} task needs {minimum:.0%}): the work is done by library calls ({top})")
    found = outcomes.sanitizer
    if found is not None:
        return Decision("INCORRECT", f"sanitizer_{found.tool}",
                        f"correct on every trial, but compute-sanitizer {found.tool} found {found.errors} error(s) "
                        f"at {found.sizes}: " + "; ".join(found.first[:4]))
    flags = outcomes.timing_flags or []
    fault = next((f for f in flags if f.kind == "candidate_fault"), None)
    if fault is not None:
        verdict: Verdict = "TIMEOUT" if fault.code == "timing_timeout" else "RUNTIME_ERROR"
        return Decision(verdict, "memory" if fault.code == "timing_memory" else "timing", f"correct on every trial, but while being timed on fresh inputs: {fault}")
    tampered = next((f for f in flags if f.kind == "integrity"), None)
    if tampered is not None:
        return Decision("SUSPECT", "timing_integrity", f"correct on every trial, but during timing: {tampered}")
    return correct


def _correctness(found: CorrectnessOutcome) -> Decision:
    """A hang, then a crash, then tampering with the worker, then wrong trials, then ignored weights, then
    nondeterminism, then a failed caching probe, then behaviour that changes under the profiler, then an own
    extension never called."""
    report = found.report
    if found.timed_out:
        return Decision("TIMEOUT", "correctness",
                        f"the candidate did not finish its correctness calls within {found.timeout_s:g} s")
    if not found.worker_ok:
        first = found.error.splitlines()[0] if found.error else "no detail"
        if found.out_of_memory:
            return Decision("RUNTIME_ERROR", "memory", f"{found.stage} ran out of memory: {first}")
        return Decision("RUNTIME_ERROR", found.stage, f"{found.stage} failed: {first}")
    if "harness" in report.probes:
        return Decision("SUSPECT", "harness_tampered",
                        f"the candidate tampered with the worker that runs it: {report.probes['harness']}")
    trials = [f for f in report.failures if f.purpose == "trial"]
    if trials:
        return Decision("INCORRECT", trials[0].mismatches[0].reason,
                        f"{len(trials)} of {report.trials_run} trials wrong; first: {trials[0].line()}")
    weights = [f for f in report.failures if f.purpose == "weights"]
    if weights:
        return Decision("INCORRECT", "weights_ignored",
                        "correct with the weights of its own seeded construction, wrong with other weights loaded "
                        f"into it (are its parameters used?): {weights[0].line()}")
    if report.probes.get("determinism", "ok") != "ok":
        return Decision("NONDETERMINISTIC", "determinism", report.probes["determinism"])
    probes = [f for f in report.failures if f.purpose not in ("trial", "weights", "profiled")]
    if probes:
        return Decision("SUSPECT", f"probe:{probes[0].purpose}", f"correct on every trial but not on the "
                        f"{probes[0].purpose} probe (result caching?): {probes[0].line()}")
    profiled = [f for f in report.failures if f.purpose == "profiled"]
    if profiled or "profiler" in report.probes:
        detail = f"wrong under the profiler: {profiled[0].line()}" if profiled else report.probes["profiler"]
        return Decision("SUSPECT", "profiler_dependent",
                        f"correct on every trial, but it behaves differently while profiled: {detail}")
    if "own_kernels" in report.probes:
        return Decision("SUSPECT", "own_kernels",
                        f"the candidate's own extension is never called: {report.probes['own_kernels']}")
    return Decision("PASS", None, f"correct on {report.trials_passed} trials and every probe")
