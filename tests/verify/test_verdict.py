"""The verdict table: every outcome of the correctness phase against every outcome of the phases after it
(own-kernel share, sanitizer, timing, confinement). decide_verdict reads flag codes and kinds only: rewording a
flag's message changes no verdict."""

from __future__ import annotations

import itertools

import pytest

from kernelwright.verify.flags import FLAGS, Flag, flag
from kernelwright.verify.compare import Mismatch
from kernelwright.verify.models import CorrectnessReport, TrialFailure
from kernelwright.verify.verdict import (CorrectnessOutcome, PhaseOutcomes, Preparation, SanitizerFinding,
                                        decide_preparation, decide_verdict, proceeds)



def _failure(purpose: str, reason: str = "elementwise") -> TrialFailure:
    return TrialFailure(trial="t3", purpose=purpose, shape="odd", overrides={"n": 7}, distribution="large", init=1,
                        mismatches=[Mismatch(output=0, reason=reason, detail="max error 3 at [2]")])


def _report(**fields: object) -> CorrectnessReport:
    return CorrectnessReport(trials_run=18, trials_passed=18, **fields)


# correctness outcome -> (verdict, reason) it decides on its own
CORRECTNESS: dict[str, tuple[CorrectnessOutcome, tuple[str, str | None]]] = {
    "hung": (CorrectnessOutcome(timed_out=True, timeout_s=180, worker_ok=False), ("TIMEOUT", "correctness")),
    "crashed": (CorrectnessOutcome(worker_ok=False, stage="forward (call t3)", error="RuntimeError: boom\ntrace"),
                ("RUNTIME_ERROR", "forward (call t3)")),
    "out of memory": (CorrectnessOutcome(worker_ok=False, stage="forward (call t9)", out_of_memory=True,
                                         error="RuntimeError: DefaultCPUAllocator: can't allocate memory"),
                      ("RUNTIME_ERROR", "memory")),
    "wrong": (CorrectnessOutcome(report=_report(failures=[_failure("trial", "nonfinite")])), ("INCORRECT", "nonfinite")),
    "nondeterministic": (CorrectnessOutcome(report=_report(probes={"determinism": "outputs differ bitwise"})),
                         ("NONDETERMINISTIC", "determinism")),
    "differs when profiled": (CorrectnessOutcome(report=_report(probes={"profiler": "outputs differ bitwise"})),
                              ("SUSPECT", "profiler_dependent")),
    "wrong when profiled": (CorrectnessOutcome(report=_report(failures=[_failure("profiled")])),
                            ("SUSPECT", "profiler_dependent")),
    "caching": (CorrectnessOutcome(report=_report(failures=[_failure("same_address")])),
                ("SUSPECT", "probe:same_address")),
    "own extension unused": (CorrectnessOutcome(report=_report(probes={"own_kernels": "no call"})),
                             ("SUSPECT", "own_kernels")),
    "correct": (CorrectnessOutcome(report=_report()), ("PASS", None)),
}
SHARE = {"own work": (0.9, 0.5), "library work": (0.2, 0.5), "no minimum": (0.2, None), "unmeasured": (None, 0.5)}
SANITIZER = {"clean": None, "memcheck error": SanitizerFinding(tool="memcheck", errors=2, sizes="n=8", first=["x"])}
TIMING: dict[str, list[Flag] | None] = {
    "not timed": None,
    "valid": [],
    "harness failure": [flag("timing_harness", "no GPU"), flag("stream_check_impossible", "no plain events")],
    "note only": [flag("gate", "HOST_SYNC: m")],
    "integrity": [flag("stream_injection", "2 ms escaped")],
    "crash": [flag("timing_crash", "SIGSEGV")],
    "hang": [flag("timing_timeout", "300 s")],
    "out of memory": [flag("timing_memory", "(timed calls)")],
    "crash and integrity": [flag("monkeypatch", "perf_counter"), flag("timing_runtime_error", "(timed calls)")],
}


def expected(correctness: str, share: str, sanitizer: str, timing: str, confined: bool) -> tuple[str, str | None]:
    """The table, written out as a person reads it."""
    if correctness != "correct":
        return CORRECTNESS[correctness][1]
    if share == "library work":
        return "SUSPECT", "library_work"
    if sanitizer == "memcheck error":
        return "INCORRECT", "sanitizer_memcheck"
    if timing == "hang":
        return "TIMEOUT", "timing"
    if timing in ("crash", "crash and integrity"):
        return "RUNTIME_ERROR", "timing"
    if timing == "out of memory":
        return "RUNTIME_ERROR", "memory"
    if timing == "integrity":
        return "SUSPECT", "timing_integrity"
    return ("PASS", None) if confined else ("SUSPECT", "unconfined")


@pytest.mark.parametrize(("correctness", "share", "sanitizer", "timing", "confined"),
                         list(itertools.product(CORRECTNESS, SHARE, SANITIZER, TIMING, (True, False))))
def test_the_verdict_table(correctness: str, share: str, sanitizer: str, timing: str, confined: bool) -> None:
    own, minimum = SHARE[share]
    outcomes = PhaseOutcomes(correctness=CORRECTNESS[correctness][0], own_share=own, min_own_share=minimum, level=1,
                             sanitizer=SANITIZER[sanitizer], timing_flags=TIMING[timing], confined=confined)
    decision = decide_verdict(outcomes)
    assert (decision.verdict, decision.reason) == expected(correctness, share, sanitizer, timing, confined)
    # the later phases run exactly while everything so far passes, confinement aside
    assert proceeds(outcomes) == (expected(correctness, share, sanitizer, timing, True)[0] == "PASS")


def test_each_correctness_verdict_says_what_was_found() -> None:
    summary = {name: decide_verdict(PhaseOutcomes(correctness=found)).summary for name, (found, _) in CORRECTNESS.items()}
    assert summary["hung"] == "the candidate did not finish its correctness calls within 180 s"
    assert summary["crashed"] == "forward (call t3) failed: RuntimeError: boom"
    assert summary["out of memory"].startswith("forward (call t9) ran out of memory: RuntimeError")
    assert summary["wrong"].startswith("1 of 18 trials wrong; first: shape 'odd' (n=7), large inputs")
    assert summary["nondeterministic"] == "outputs differ bitwise"
    assert summary["caching"].startswith("correct on every trial but not on the same_address probe")
    assert summary["correct"] == "correct on 18 trials and every probe"


def test_library_work_names_the_top_library_ops() -> None:
    outcomes = PhaseOutcomes(correctness=CORRECTNESS["correct"][0], own_share=0.1, min_own_share=0.5, level=2,
                             library_shares={"aten::mm": 0.85, "aten::add": 0.05})
    decision = decide_verdict(outcomes)
    assert (decision.verdict, decision.reason) == ("SUSPECT", "library_work")
    assert "aten::mm 85%, aten::add 5%" in decision.summary and "level-2 task needs 50%" in decision.summary


def test_a_reworded_message_changes_no_verdict() -> None:
    passed = CORRECTNESS["correct"][0]
    for code, (kind, _) in FLAGS.items():
        plain = decide_verdict(PhaseOutcomes(correctness=passed, timing_flags=[flag(code, "x")]))
        reworded = decide_verdict(PhaseOutcomes(correctness=passed, timing_flags=[
            Flag(code=code, kind=kind, message="harness: timeout: crash: stream check impossible")]))
        assert plain.verdict == reworded.verdict, code
        assert (plain.verdict == "PASS") == (kind in ("harness", "note")), code


def test_an_unconfined_pass_says_why_and_counts_for_nothing() -> None:
    decision = decide_verdict(PhaseOutcomes(correctness=CORRECTNESS["correct"][0], confined=False))
    assert decision.verdict == "SUSPECT"
    assert decision.summary.startswith("correct on 18 trials and every probe, but unconfined: ")


def test_flags_stored_as_text_read_back_as_notes() -> None:
    assert Flag.model_validate("TIMING: stream injection: 2 ms") == Flag(code="legacy", kind="note",
                                                                          message="TIMING: stream injection: 2 ms")
    assert str(flag("timing_crash", "SIGSEGV")) == "crash: SIGSEGV"
    assert flag("gate", "HOST_SYNC: m").message == "HOST_SYNC: m"


# Every way a candidate stops before its correctness phase, and the verdict it decides.
PREPARATION = {
    ("gate", "rejected"): (Preparation(stage="gate", failure="rejected", rule="NATIVE_SYSTEM", detail="line 3: no"),
                           ("STATIC_REJECT", "NATIVE_SYSTEM", "line 3: no")),
    ("import", "no_extension"): (Preparation(stage="import", failure="no_extension"),
                                 ("STATIC_REJECT", "NO_EXTENSION", "the candidate builds no extension with "
                                  "load_inline: write the kernel yourself")),
    ("import", "timeout"): (Preparation(stage="import", failure="timeout", timeout_s=60),
                            ("TIMEOUT", "import", "importing the candidate took longer than 60 s")),
    ("import", "crashed"): (Preparation(stage="import", failure="crashed", detail="ImportError: x\ntrace"),
                            ("RUNTIME_ERROR", "import", "importing the candidate failed: ImportError: x")),
    ("build", "timeout"): (Preparation(stage="build", failure="timeout", timeout_s=600),
                           ("TIMEOUT", "build", "compilation took longer than 600 s")),
    ("build", "compile_error"): (Preparation(stage="build", failure="compile_error", detail="a.cu(3): error"),
                                 ("COMPILE_FAIL", "build", "compilation failed:\na.cu(3): error")),
}


@pytest.mark.parametrize("case", list(PREPARATION), ids=lambda case: "-".join(case))
def test_each_early_stop_decides_one_verdict(case: tuple[str, str]) -> None:
    found, want = PREPARATION[case]
    assert tuple(decide_preparation(found)) == want


def test_an_early_stop_with_no_verdict_is_an_error() -> None:
    with pytest.raises(ValueError, match="no verdict for a compile_error at the gate stage"):
        decide_preparation(Preparation(stage="gate", failure="compile_error"))
