"""The failure taxonomy: one family per verdict, sub-reasons from reasons and compiler messages."""

from __future__ import annotations

import pytest

from kernelwright.report.failures import compile_family, failure_taxonomy
from kernelwright.report.records import RoundRecord, SampleRecord


@pytest.mark.parametrize(("log", "family"), [
    ('kernel.cu(12): error: expected a ";"', "syntax"),
    ("main.cpp:4:5: error: expected ';' before 'return'", "syntax"),
    ('kernel.cu(7): error: identifier "blockDimx" is undefined', "undeclared identifier"),
    ("main.cpp:9:3: error: 'foo' was not declared in this scope", "undeclared identifier"),
    ('kernel.cu(20): error: no instance of overloaded function "at::Tensor::data_ptr" matches the argument list',
     "type mismatch / no matching function"),
    ("main.cpp:9: error: no matching function for call to 'bar(int)'", "type mismatch / no matching function"),
    ('error: argument of type "const float *" is incompatible with parameter of type "float *"',
     "type mismatch / no matching function"),
    ("ImportError: ext.so: undefined symbol: _Z3foov", "linker / undefined symbol"),
    ("collect2: error: ld returned 1 exit status", "linker / undefined symbol"),
    ("ptxas error   : Entry function '_Z1kPf' uses too much shared data (0x10000 bytes, 0xc000 max)",
     "ptxas / resources"),
    ("nvcc fatal   : Unknown option '-foo'", "other"),
    ("", "other"),
    (None, "other"),
])
def test_compile_family(log: str | None, family: str) -> None:
    assert compile_family(log) == family


def test_first_recognised_line_decides() -> None:
    log = 'note: in instantiation\nk.cu(3): error: identifier "x" is undefined\nk.cu(4): error: expected a ";"'
    assert compile_family(log) == "undeclared identifier"


def failed(name: str, verdict: str, reason: str | None = None, log: str | None = None, **fields: object) -> SampleRecord:
    round_ = RoundRecord(round=0, candidate_id=f"c-{name}", verdict=verdict, reason=reason, compile_log=log)
    return SampleRecord(task=name, task_hash=name, best_candidate_id=f"c-{name}", best_verdict=verdict,
                        rounds=[round_], **fields)  # type: ignore[arg-type]


def test_taxonomy_covers_every_family() -> None:
    records = [
        failed("a", "COMPILE_FAIL", "build", 'k.cu(1): error: expected a ";"'),
        failed("b", "COMPILE_FAIL", "build", 'k.cu(1): error: identifier "y" is undefined'),
        failed("c", "COMPILE_FAIL", "build", 'k.cu(1): error: identifier "z" is undefined'),
        failed("d", "COMPILE_FAIL", "build", "ptxas error : too many resources requested for launch"),
        failed("e", "INCORRECT", "shape"),
        failed("f", "INCORRECT", "elementwise"),
        failed("g", "INCORRECT", "elementwise"),
        failed("h", "TIMEOUT", "correctness"),
        failed("i", "RUNTIME_ERROR", "forward"),
        failed("j", "STATIC_REJECT", "NO_EXTENSION"),
        failed("k", "SUSPECT", "probe:constant"),
        failed("l", "NONDETERMINISTIC", "determinism"),
        # no round produced code: the last round's note, or nothing at all yet
        SampleRecord(task="m", task_hash="m", rounds=[RoundRecord(round=0, reason="no_code"),
                                                      RoundRecord(round=1, reason="reply_error")]),
        SampleRecord(task="n", task_hash="n"),
        SampleRecord(task="o", task_hash="o", error="level1/o: no CPU-sized variant (declare VARIANTS['small'])"),
        failed("p", "PASS"),  # solved: not a failure
    ]
    assert failure_taxonomy(records) == {
        "compile_error": {"undeclared identifier": 2, "syntax": 1, "ptxas / resources": 1},
        "incorrect": {"elementwise": 2, "shape": 1},
        "timeout": {"correctness": 1},
        "runtime_error": {"forward": 1},
        "static_reject": {"NO_EXTENSION": 1},
        "suspect": {"probe:constant": 1},
        "nondeterministic": {"determinism": 1},
        "no_code": {"reply_error": 1, "not started": 1},
        "harness_error": {"level1/o: no CPU-sized variant (declare VARIANTS['small'])": 1},
    }
    assert list(failure_taxonomy(records))[:2] == ["compile_error", "incorrect"]  # most frequent first


def test_final_retiming_failure_is_classified_by_the_best_not_its_passing_round() -> None:
    record = SampleRecord(task="q", task_hash="q", best_candidate_id="c1", best_verdict="INCORRECT",
                          best_reason="frobenius",
                          rounds=[RoundRecord(round=0, candidate_id="c1", verdict="PASS", perf="PERF_VALID")])
    assert failure_taxonomy([record]) == {"incorrect": {"frobenius": 1}}


def test_unfinished_sample_without_a_best_uses_its_last_round_with_a_verdict() -> None:
    record = SampleRecord(task="r", task_hash="r", rounds=[
        RoundRecord(round=0, candidate_id="c0", verdict="INCORRECT", reason="shape"),
        RoundRecord(round=1, candidate_id="c1", verdict="TIMEOUT", reason="correctness"),
        RoundRecord(round=2, reason="no_code")])
    assert failure_taxonomy([record]) == {"timeout": {"correctness": 1}}


def test_reason_missing_everywhere_is_unspecified() -> None:
    record = SampleRecord(task="s", task_hash="s", best_verdict="RUNTIME_ERROR")
    assert failure_taxonomy([record]) == {"runtime_error": {"unspecified": 1}}


def test_reasons_that_differ_only_in_per_trial_seeds_group_as_one() -> None:
    records = [SampleRecord(task=name, task_hash=name, best_verdict="RUNTIME_ERROR",
                            best_reason=f"ModelNew() for weights small-{seed} failed") for name, seed in
               (("a", 3799), ("b", 78666))]
    records.append(SampleRecord(task="c", task_hash="c", best_verdict="INCORRECT",
                                best_reason="output 0, weights seed 9498 [trial t3]"))
    assert failure_taxonomy(records) == {"runtime_error": {"ModelNew() for weights small failed": 2},
                                         "incorrect": {"output 0, weights": 1}}
