"""The verdict table: every outcome of the phases after the build against every verdict the correctness phase can
give. decide_verdict reads flag codes and kinds only: rewording a flag's message changes no verdict."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest

from kernelwright.verify.flags import FLAGS, Flag, flag
from kernelwright.verify.models import Verdict
from kernelwright.verify.verdict import Decision, PhaseOutcomes, SanitizerFinding, decide_verdict, proceeds

CORRECTNESS = {v: Decision(v, None if v == "PASS" else "why", f"correctness said {v}") for v in get_args(Verdict)}
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
    "crash and integrity": [flag("monkeypatch", "perf_counter"), flag("timing_runtime_error", "(timed calls)")],
}


def expected(correctness: str, share: str, sanitizer: str, timing: str, confined: bool) -> tuple[str, str | None]:
    """The table, written out as a person reads it."""
    if correctness != "PASS":
        return correctness, "why"
    if share == "library work":
        return "SUSPECT", "own_kernel_share"
    if sanitizer == "memcheck error":
        return "INCORRECT", "sanitizer_memcheck"
    if timing == "hang":
        return "TIMEOUT", "timing"
    if timing in ("crash", "crash and integrity"):
        return "RUNTIME_ERROR", "timing"
    if timing == "integrity":
        return "SUSPECT", "timing_integrity"
    return ("PASS", None) if confined else ("SUSPECT", "unconfined")


@pytest.mark.parametrize(("correctness", "share", "sanitizer", "timing", "confined"),
                         list(itertools.product(CORRECTNESS, SHARE, SANITIZER, TIMING, (True, False))))
def test_the_verdict_table(correctness: str, share: str, sanitizer: str, timing: str, confined: bool) -> None:
    own, minimum = SHARE[share]
    outcomes = PhaseOutcomes(correctness=CORRECTNESS[correctness], own_share=own, min_own_share=minimum, level=1,
                             sanitizer=SANITIZER[sanitizer], timing_flags=TIMING[timing], confined=confined)
    decision = decide_verdict(outcomes)
    assert (decision.verdict, decision.reason) == expected(correctness, share, sanitizer, timing, confined)
    if decision.verdict == correctness:
        assert decision.summary == CORRECTNESS[correctness].summary
    # the later phases run exactly while everything so far passes, confinement aside
    assert proceeds(outcomes) == (expected(correctness, share, sanitizer, timing, True)[0] == "PASS")


def test_a_reworded_message_changes_no_verdict() -> None:
    passed = Decision("PASS", None, "ok")
    for code, (kind, _) in FLAGS.items():
        plain = decide_verdict(PhaseOutcomes(correctness=passed, timing_flags=[flag(code, "x")]))
        reworded = decide_verdict(PhaseOutcomes(correctness=passed, timing_flags=[
            Flag(code=code, kind=kind, message="harness: timeout: crash: stream check impossible")]))
        assert plain.verdict == reworded.verdict, code
        assert (plain.verdict == "PASS") == (kind in ("harness", "note")), code


def test_an_unconfined_pass_says_why_and_counts_for_nothing() -> None:
    decision = decide_verdict(PhaseOutcomes(correctness=Decision("PASS", None, "correct on 18 trials"), confined=False))
    assert decision.verdict == "SUSPECT" and decision.summary.startswith("correct on 18 trials, but unconfined: ")


def test_flags_stored_as_text_read_back_as_notes() -> None:
    assert Flag.model_validate("TIMING: stream injection: 2 ms") == Flag(code="legacy", kind="note",
                                                                          message="TIMING: stream injection: 2 ms")
    assert str(flag("timing_crash", "SIGSEGV")) == "crash: SIGSEGV"
    assert flag("gate", "HOST_SYNC: m").message == "HOST_SYNC: m"
