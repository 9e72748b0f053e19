"""The numbers an evaluation reports, computed from its sample records (see RULES for each definition)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable

from .failures import failure_taxonomy
from .metrics_models import EvalMetrics, Metrics, SpeedupStats
from .records import PS, RoundRecord, SampleRecord, _timed

RULES: dict[str, str] = {
    "tasks": "Distinct tasks. Headline numbers use sample 0 of each task (its lowest sample if 0 is missing), "
             "so K samples per task do not inflate them. With --strategy beam or evolve, a task's samples are one "
             "search: sample 0 holds the search's best over all of them (re-timed), the others their own best, so "
             "pass@k there counts samples of one search, not independent tries.",
    "compile_rate": "Share of tasks whose sample got some candidate past the build (any verdict other than "
                    "COMPILE_FAIL or STATIC_REJECT).",
    "correct_rate": "Share of tasks whose best candidate passed its final verification (fast_0).",
    "fast_p": "Share of ALL tasks whose best candidate is correct and strictly more than p times faster than the "
              "baseline (eager or torch.compile) in the final re-timing; fast_0 is the correct rate. A correct "
              "candidate without a valid timing (not timed, PERF_INVALID) counts for fast_0 only. When correct tasks "
              "exist but none was timed against a baseline (e.g. no torch.compile run), fast_p for p > 0 and the "
              "all-task geomean against it are not measured (null), not zero.",
    "geomean_correct": "Geometric mean of the speedups of correct tasks with a valid timing.",
    "geomean_all": "Geometric mean over all tasks, a task without a correct timed result counted as 1.0 "
                   "(keeping the reference).",
    "median_mean": "Median and arithmetic mean of the speedups of correct tasks with a valid timing.",
    "pass_at_k": "With K > 1 samples per task: the unbiased estimator 1 - C(n-c, k) / C(n, k) per task (n samples, "
                 "c correct; missing samples counted as failures), averaged over tasks, for k = 1..K.",
    "fast_1_at_k": "pass@k where a sample succeeds when it is correct and more than 1.0x faster than eager.",
    "fast_p_by_round": "fast_p vs eager (headline samples) had the run stopped after N Coder rounds: the best of "
                       "rounds 1..N by the rounds' own verifications (a timed PASS that is not PERF_INVALID).",
    "failures": "Tasks whose best is not PASS, by family (the best's verdict, else the last round's; no_code when no "
                "round produced code; harness_error when the task could not be verified) and sub-reason (the "
                "verdict's reason; for compile errors a family of compiler messages).",
    "cost": "Tokens and dollars summed over all samples of all tasks (unknown prices count 0); per task divides by "
            "tasks, per solved task by correct tasks.",
    "wall_s": "Wall time summed over all samples; per task divides by tasks.",
}


def compute_metrics(records: list[SampleRecord], ps: Iterable[float] = PS) -> EvalMetrics:
    """Metrics of all records and of each level ("none" for tasks without one)."""
    ps = tuple(ps)
    levels: dict[int | None, list[SampleRecord]] = defaultdict(list)
    for record in records:
        levels[record.level].append(record)
    ordered = sorted(levels, key=lambda level: (level is None, level or 0))
    return EvalMetrics(overall=metrics_of(records, ps),
                       by_level={"none" if level is None else str(level): metrics_of(levels[level], ps)
                                 for level in ordered},
                       rules=dict(RULES))


def metrics_of(records: list[SampleRecord], ps: tuple[float, ...] = PS) -> Metrics:
    by_task: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        by_task[record.task_hash].append(record)
    head = [min(samples, key=lambda r: r.sample) for samples in by_task.values()]
    tasks = len(head)
    k_max = max((len(samples) for samples in by_task.values()), default=1)
    correct = sum(r.correct for r in head)
    cost = sum(r.cost_usd for r in records)
    wall = sum(r.wall_s for r in records)
    return Metrics(
        tasks=tasks,
        samples_per_task=k_max,
        compile_rate=_share(sum(r.compiled for r in head), tasks),
        correct_rate=_share(correct, tasks),
        eager=speedup_stats([(r.correct, r.best_speedup_eager) for r in head], ps),
        compile=speedup_stats([(r.correct, r.best_speedup_compile) for r in head], ps),
        pass_at_k=_at_k(by_task, k_max, lambda r: r.correct),
        fast_1_at_k=_at_k(by_task, k_max, lambda r: r.correct and _valid(r.best_speedup_eager) and
                          (r.best_speedup_eager or 0.0) > 1.0),
        fast_p_by_round=_by_round(head, ps),
        failures=failure_taxonomy(head),
        input_tokens=sum(r.input_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        cost_usd=cost,
        cost_per_task=cost / tasks if tasks else None,
        cost_per_solved_task=cost / correct if correct else None,
        wall_s_total=wall,
        wall_s_per_task=wall / tasks if tasks else None,
    )


def speedup_stats(results: list[tuple[bool, float | None]], ps: tuple[float, ...] = PS) -> SpeedupStats:
    """Stats over tasks given as (correct, speedup or None)."""
    timed = [s for ok, s in results if ok and _valid(s)]
    # Correct tasks but none timed against this baseline (e.g. no torch.compile run): not measured, not zero.
    unmeasured = not timed and any(ok for ok, _ in results)
    shares: dict[str, float | None] = dict(fast_p(results, ps))
    if unmeasured:
        shares = {key: (value if float(key) == 0 else None) for key, value in shares.items()}
    return SpeedupStats(
        fast_p=shares,
        geomean_correct=_geomean(timed),
        geomean_all=None if unmeasured else _geomean([s if ok and _valid(s) else 1.0 for ok, s in results]),  # type: ignore[misc]
        median_correct=statistics.median(timed) if timed else None,
        mean_correct=statistics.fmean(timed) if timed else None,
        timed_tasks=len(timed),
    )


def fast_p(results: list[tuple[bool, float | None]], ps: tuple[float, ...] = PS) -> dict[str, float]:
    return {p_key(p): _share(sum(ok and (p == 0 or (_valid(s) and (s or 0.0) > p)) for ok, s in results),
                             len(results)) for p in ps}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one task with n samples of which c succeeded."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def p_key(p: float) -> str:
    """ "0" for p == 0, else the float's repr ("1.0", "1.2", "2.0")."""
    return "0" if p == 0 else str(float(p))


def _at_k(by_task: dict[str, list[SampleRecord]], k_max: int,
          success: Callable[[SampleRecord], bool]) -> dict[str, float]:
    if k_max < 2:
        return {}
    return {str(k): statistics.fmean(pass_at_k(k_max, sum(map(success, samples)), k) for samples in by_task.values())
            for k in range(1, k_max + 1)}


def _by_round(head: list[SampleRecord], ps: tuple[float, ...]) -> dict[str, dict[str, float]]:
    rounds = max((r.round + 1 for record in head for r in record.rounds), default=0)
    return {str(n): fast_p([_best_before(record.rounds, n) for record in head], ps) for n in range(1, rounds + 1)}


def _best_before(rounds: list[RoundRecord], n: int) -> tuple[bool, float | None]:
    """(correct, best valid eager speedup) among rounds with index < n."""
    early = [r for r in rounds if r.round < n and r.verdict == "PASS"]
    speedups = [r.speedup_eager for r in early if _timed(r.verdict, r.perf) and _valid(r.speedup_eager)]
    return bool(early), max(speedups) if speedups else None  # type: ignore[type-var]


def _valid(speedup: float | None) -> bool:
    return speedup is not None and math.isfinite(speedup) and speedup > 0


def _geomean(values: list[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0
