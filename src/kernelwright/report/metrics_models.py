"""The numbers an evaluation reports (computed in `report.metrics`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SpeedupStats(BaseModel):
    """Speedups of one baseline (eager or torch.compile)."""

    # "0", "1.0", "1.2", "1.5", "2.0" -> share of ALL tasks; None (p > 0) when no correct task was timed against it
    fast_p: dict[str, float | None] = Field(default_factory=dict)
    geomean_correct: float | None = None  # over correct tasks only
    geomean_all: float | None = None  # over all tasks, a failed or untimed task counted as 1.0 ("keep the reference");
                                      # None when correct tasks exist but none was timed against this baseline
    median_correct: float | None = None
    mean_correct: float | None = None
    timed_tasks: int = 0  # correct tasks with a valid speedup against this baseline


class Metrics(BaseModel):
    """Metrics over a set of tasks (all of a run, or one level). Headline numbers use sample 0 of each task."""

    tasks: int = 0
    samples_per_task: int = 1
    compile_rate: float = 0.0
    correct_rate: float = 0.0
    eager: SpeedupStats = Field(default_factory=SpeedupStats)
    compile: SpeedupStats = Field(default_factory=SpeedupStats)
    pass_at_k: dict[str, float] = Field(default_factory=dict)  # "1", "K" -> unbiased pass@k over samples (K > 1)
    fast_1_at_k: dict[str, float] = Field(default_factory=dict)  # the same estimator for "correct and > 1.0x eager"
    fast_p_by_round: dict[str, dict[str, float]] = Field(default_factory=dict)  # round N -> {p -> fast_p vs eager}
    failures: dict[str, dict[str, int]] = Field(default_factory=dict)  # family -> {sub-reason -> count}
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_per_task: float | None = None
    cost_per_solved_task: float | None = None
    wall_s_total: float = 0.0
    wall_s_per_task: float | None = None


class EvalMetrics(BaseModel):
    overall: Metrics
    by_level: dict[str, Metrics] = Field(default_factory=dict)  # "1", "2", ... ("none" for tasks without a level)
    rules: dict[str, str] = Field(default_factory=dict)  # how each headline number is computed, in words
