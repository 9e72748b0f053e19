"""compute_metrics against numbers worked out by hand in each test."""

from __future__ import annotations

import math

import pytest

from kernelwright.report.metrics import compute_metrics, pass_at_k
from kernelwright.report.records import RoundRecord, SampleRecord


def rnd(index: int, verdict: str | None, speedup: float | None = None, perf: str | None = None,
        **fields: object) -> RoundRecord:
    if verdict == "PASS" and perf is None:
        perf = "PERF_VALID"
    return RoundRecord(round=index, candidate_id=f"c{index}", verdict=verdict, perf=perf, speedup_eager=speedup,
                       **fields)  # type: ignore[arg-type]


def rec(name: str, verdict: str, eager: float | None = None, compile_: float | None = None, level: int | None = 1,
        rounds: list[RoundRecord] | None = None, sample: int = 0, **fields: object) -> SampleRecord:
    return SampleRecord(task=f"level{level}/{name}", task_hash=f"h-{name}", level=level, sample=sample,
                        rounds=rounds or [], best_verdict=verdict, best_speedup_eager=eager,
                        best_speedup_compile=compile_, finished=True, **fields)  # type: ignore[arg-type]


def spend() -> dict[str, object]:
    return {"cost_usd": 0.30, "input_tokens": 100, "output_tokens": 10, "wall_s": 10.0}


def six_tasks() -> list[SampleRecord]:
    """A 8.0x; B and C tie at exactly 1.0x; D passes untimed; E never compiles; F is incorrect."""
    return [
        rec("A", "PASS", 8.0, 2.0, rounds=[rnd(0, "COMPILE_FAIL"), rnd(1, "PASS", 0.5), rnd(2, "PASS", 8.0)],
            **spend()),
        rec("B", "PASS", 1.0, 0.5, rounds=[rnd(0, "PASS", 1.0)], **spend()),
        rec("C", "PASS", 1.0, None, rounds=[rnd(0, "INCORRECT"), rnd(1, "INCORRECT"), rnd(2, "PASS", 1.0)],
            **spend()),
        rec("D", "PASS", None, None, rounds=[rnd(0, "PASS", 3.0, perf="PERF_INVALID")], **spend()),
        rec("E", "COMPILE_FAIL", level=2, best_candidate_id="c1",
            rounds=[rnd(0, "STATIC_REJECT", reason="NO_EXTENSION"),
                    rnd(1, "COMPILE_FAIL", reason="build", compile_log='k.cu(3): error: expected a ";"')],
            **spend()),
        rec("F", "INCORRECT", level=2, best_reason="elementwise",
            rounds=[rnd(0, "INCORRECT", reason="elementwise"), rnd(1, None, reason="no_code")], **spend()),
    ]


def test_headline_rates_and_fast_p_with_ties_and_untimed_pass() -> None:
    m = compute_metrics(six_tasks()).overall
    assert m.tasks == 6 and m.samples_per_task == 1
    assert m.correct_rate == pytest.approx(4 / 6)
    assert m.compile_rate == pytest.approx(5 / 6)  # E only ever reached STATIC_REJECT / COMPILE_FAIL
    # fast_0 counts the untimed D; B and C sit exactly at 1.0 so are not > 1.0
    assert m.eager.fast_p == pytest.approx({"0": 4 / 6, "1.0": 1 / 6, "1.2": 1 / 6, "1.5": 1 / 6, "2.0": 1 / 6})
    assert m.eager.timed_tasks == 3
    assert m.eager.geomean_correct == pytest.approx(2.0)  # (8 * 1 * 1) ** (1/3)
    assert m.eager.geomean_all == pytest.approx(math.sqrt(2))  # (8 * 1 ** 5) ** (1/6)
    assert m.eager.median_correct == pytest.approx(1.0)
    assert m.eager.mean_correct == pytest.approx(10 / 3)
    # against torch.compile: A 2.0 (exactly p=2.0, not faster), B 0.5, C and D not timed
    assert m.compile.fast_p == pytest.approx({"0": 4 / 6, "1.0": 1 / 6, "1.2": 1 / 6, "1.5": 1 / 6, "2.0": 0.0})
    assert m.compile.timed_tasks == 2
    assert m.compile.geomean_correct == pytest.approx(1.0)
    assert m.compile.geomean_all == pytest.approx(1.0)
    assert m.compile.median_correct == pytest.approx(1.25)
    assert m.compile.mean_correct == pytest.approx(1.25)


def test_cost_tokens_and_wall_time() -> None:
    m = compute_metrics(six_tasks()).overall
    assert (m.input_tokens, m.output_tokens) == (600, 60)
    assert m.cost_usd == pytest.approx(1.80)
    assert m.cost_per_task == pytest.approx(0.30)
    assert m.cost_per_solved_task == pytest.approx(0.45)  # 1.80 / 4 correct
    assert m.wall_s_total == pytest.approx(60.0)
    assert m.wall_s_per_task == pytest.approx(10.0)


def test_fast_p_by_round_uses_the_rounds_own_verifications() -> None:
    by_round = compute_metrics(six_tasks()).overall.fast_p_by_round
    assert list(by_round) == ["1", "2", "3"]
    # after 1 round: B (1.0x) and D (PASS, PERF_INVALID so unranked) are correct
    assert by_round["1"] == pytest.approx({"0": 2 / 6, "1.0": 0.0, "1.2": 0.0, "1.5": 0.0, "2.0": 0.0})
    # after 2: A's 0.5x joins
    assert by_round["2"] == pytest.approx({"0": 3 / 6, "1.0": 0.0, "1.2": 0.0, "1.5": 0.0, "2.0": 0.0})
    # after 3: A 8.0x and C 1.0x
    assert by_round["3"] == pytest.approx({"0": 4 / 6, "1.0": 1 / 6, "1.2": 1 / 6, "1.5": 1 / 6, "2.0": 1 / 6})


def test_failures_of_the_headline_tasks() -> None:
    assert compute_metrics(six_tasks()).overall.failures == {"compile_error": {"syntax": 1},
                                                             "incorrect": {"elementwise": 1}}


def test_by_level_split() -> None:
    result = compute_metrics([*six_tasks(), rec("G", "NO_CANDIDATE", level=None)])
    assert list(result.by_level) == ["1", "2", "none"]
    one, two, none = result.by_level["1"], result.by_level["2"], result.by_level["none"]
    assert (one.tasks, one.correct_rate, one.compile_rate) == (4, 1.0, 1.0)
    assert one.eager.geomean_all == pytest.approx(8 ** 0.25)
    assert one.eager.fast_p["1.0"] == pytest.approx(0.25)
    assert one.cost_per_solved_task == pytest.approx(0.30)
    assert (two.tasks, two.correct_rate, two.compile_rate) == (2, 0.0, 0.5)
    assert two.eager.geomean_correct is None and two.eager.geomean_all == pytest.approx(1.0)
    assert two.cost_per_solved_task is None and two.cost_per_task == pytest.approx(0.30)
    assert none.tasks == 1 and none.failures == {"no_code": {"not started": 1}}
    assert result.overall.tasks == 7
    assert result.overall.correct_rate == pytest.approx(4 / 7)
    assert set(result.rules) >= {"fast_p", "geomean_all", "pass_at_k", "fast_p_by_round", "failures"}


def test_geomean_all_counts_a_failure_as_one() -> None:
    m = compute_metrics([rec("A", "PASS", 4.0), rec("B", "COMPILE_FAIL")]).overall
    assert m.eager.geomean_correct == pytest.approx(4.0)
    assert m.eager.geomean_all == pytest.approx(2.0)


def test_pass_at_k_estimator_worked_example() -> None:
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(3, 1, 2) == pytest.approx(2 / 3)  # 1 - C(2,2)/C(3,2)
    assert pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(3, 0, 2) == 0.0
    assert pass_at_k(3, 2, 2) == 1.0


def test_pass_at_k_and_fast_1_at_k_over_three_samples() -> None:
    records = [
        # X: one of three samples correct (1.5x); Y: two correct but neither faster than eager
        rec("X", "INCORRECT", sample=0, cost_usd=0.01), rec("X", "PASS", 1.5, sample=1, cost_usd=0.01),
        rec("X", "COMPILE_FAIL", sample=2, cost_usd=0.01),
        rec("Y", "PASS", 0.9, sample=0, cost_usd=0.01), rec("Y", "PASS", 1.0, sample=1, cost_usd=0.01),
        rec("Y", "TIMEOUT", sample=2, cost_usd=0.01),
    ]
    m = compute_metrics(records).overall
    assert (m.tasks, m.samples_per_task) == (2, 3)
    # pass@k: X (n=3, c=1) 1/3, 2/3, 1; Y (n=3, c=2) 2/3, 1, 1
    assert m.pass_at_k == pytest.approx({"1": 0.5, "2": 5 / 6, "3": 1.0})
    # fast_1@k: X as above, Y has no success
    assert m.fast_1_at_k == pytest.approx({"1": 1 / 6, "2": 1 / 3, "3": 0.5})
    # headline: sample 0 only (X wrong, Y right at 0.9x)
    assert m.correct_rate == pytest.approx(0.5)
    assert m.eager.fast_p["1.0"] == 0.0
    assert m.eager.geomean_correct == pytest.approx(0.9)
    # cost counts every sample
    assert m.cost_usd == pytest.approx(0.06)
    assert m.cost_per_task == pytest.approx(0.03)
    assert m.cost_per_solved_task == pytest.approx(0.06)


def test_headline_falls_back_to_the_lowest_sample_and_missing_samples_fail() -> None:
    records = [rec("Z", "PASS", 2.0, sample=2), rec("Z", "INCORRECT", sample=1),
               rec("W", "PASS", 3.0, sample=0)]
    m = compute_metrics(records).overall
    assert m.correct_rate == pytest.approx(0.5)  # Z is judged by its sample 1
    # K = 2; W has one sample, its missing second counts as a failure: W (n=2, c=1) 1/2, 1; Z (n=2, c=1) 1/2, 1
    assert m.pass_at_k == pytest.approx({"1": 0.5, "2": 1.0})


def test_one_sample_has_no_pass_at_k() -> None:
    m = compute_metrics(six_tasks()).overall
    assert m.pass_at_k == {} and m.fast_1_at_k == {}


def test_empty_input() -> None:
    result = compute_metrics([])
    m = result.overall
    assert m.tasks == 0 and m.correct_rate == 0.0 and m.compile_rate == 0.0
    assert m.eager.fast_p == {"0": 0.0, "1.0": 0.0, "1.2": 0.0, "1.5": 0.0, "2.0": 0.0}
    assert m.eager.geomean_correct is None and m.eager.geomean_all is None and m.eager.median_correct is None
    assert m.cost_per_task is None and m.cost_per_solved_task is None and m.wall_s_per_task is None
    assert m.pass_at_k == {} and m.fast_p_by_round == {} and m.failures == {}
    assert result.by_level == {}


def test_custom_ps() -> None:
    m = compute_metrics([rec("A", "PASS", 3.0), rec("B", "PASS", 1.1)], ps=(0.0, 3.0, 1.15)).overall
    assert m.eager.fast_p == pytest.approx({"0": 1.0, "3.0": 0.0, "1.15": 0.5})


def test_a_baseline_never_measured_is_null_not_zero():
    from kernelwright.report.metrics import speedup_stats

    stats = speedup_stats([(True, None), (False, None), (True, None)])  # correct, but no torch.compile timing
    assert stats.fast_p["0"] == 2 / 3
    assert all(stats.fast_p[key] is None for key in ("1.0", "1.2", "1.5", "2.0"))
    assert stats.geomean_all is None and stats.geomean_correct is None and stats.timed_tasks == 0
    nothing_correct = speedup_stats([(False, None), (False, None)])
    assert nothing_correct.fast_p["1.0"] == 0.0 and nothing_correct.geomean_all == 1.0  # measured: all failed
