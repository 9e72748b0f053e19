"""The report's tables as rows of formatted cells, built once and rendered by both HTML and Markdown."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from ..store import Environment, Run
from .format import MISSING, Kind, fmt, fmt_ci, fmt_delta, fmt_usd, judge_model
from .metrics_models import EvalMetrics, Metrics, SpeedupStats
from .records import SampleRecord


class MetricRow(BaseModel):
    group: str
    label: str
    rule: str | None = None  # the rule text from EvalMetrics.rules for this number, when it has one
    values: list[str]
    delta: str | None = None


class MetricTable(BaseModel):
    headers: list[str]
    rows: list[MetricRow]
    delta_header: str | None = None


class FailureRow(BaseModel):
    family: str
    reason: str
    counts: list[str]


class TaskRow(BaseModel):
    task: str
    anchor: str
    level: str
    sample: int
    verdict: str
    speedup_eager: str
    speedup_compile: str
    rounds: int
    cost: str
    stop_reason: str


class CompareRow(BaseModel):
    task: str
    anchor: str | None
    verdicts: list[str]
    speedups: list[str]
    speedups_compile: list[str]


Getter = Callable[[Metrics], float | None]


RowSpec = tuple[str, str, str, Kind, Getter]  # group, label, rule key, kind, value


def _stats_rows(name: str, pick: Callable[[Metrics], SpeedupStats], ps: Sequence[str]) -> list[RowSpec]:
    group = f"vs {name}"
    rows: list[RowSpec] = [
        (group, f"fast_{p}", "fast_p", "pct", lambda m, p=p: pick(m).fast_p.get(p)) for p in ps]
    rows += [
        (group, "geomean speedup, correct tasks", "geomean_correct", "x", lambda m: pick(m).geomean_correct),
        (group, "geomean speedup, all tasks, failure = 1.0", "geomean_all", "x", lambda m: pick(m).geomean_all),
        (group, "median speedup, correct tasks", "median_mean", "x", lambda m: pick(m).median_correct),
        (group, "mean speedup, correct tasks", "median_mean", "x", lambda m: pick(m).mean_correct),
        (group, "timed correct tasks", "timed_tasks", "int", lambda m: pick(m).timed_tasks),
    ]
    return rows


def _row_specs(columns: Sequence[Metrics]) -> list[RowSpec]:
    def keys(pick: Callable[[Metrics], dict[str, float]]) -> list[str]:
        return sorted({k for m in columns for k in pick(m)}, key=_number)

    specs: list[RowSpec] = [
        ("tasks", "tasks", "tasks", "int", lambda m: m.tasks),
        ("tasks", "samples per task", "tasks", "int", lambda m: m.samples_per_task),
        ("tasks", "compile rate", "compile_rate", "pct", lambda m: m.compile_rate),
        ("tasks", "correct rate", "correct_rate", "pct", lambda m: m.correct_rate),
    ]
    specs += [("samples", f"pass@{k}", "pass_at_k", "pct", lambda m, k=k: m.pass_at_k.get(k))
              for k in keys(lambda m: m.pass_at_k)]
    specs += [("samples", f"fast_1@{k}", "fast_1_at_k", "pct", lambda m, k=k: m.fast_1_at_k.get(k))
              for k in keys(lambda m: m.fast_1_at_k)]
    specs += _stats_rows("eager", lambda m: m.eager, keys(lambda m: m.eager.fast_p))
    specs += _stats_rows("torch.compile", lambda m: m.compile, keys(lambda m: m.compile.fast_p))
    specs += [
        ("cost", "input tokens", "cost", "int", lambda m: m.input_tokens),
        ("cost", "output tokens", "cost", "int", lambda m: m.output_tokens),
        ("cost", "dollars, total", "cost", "usd", lambda m: m.cost_usd),
        ("cost", "dollars per task", "cost", "usd", lambda m: m.cost_per_task),
        ("cost", "dollars per solved task", "cost", "usd", lambda m: m.cost_per_solved_task),
        ("time", "wall time, total", "wall_s", "s", lambda m: m.wall_s_total),
        ("time", "wall time per task", "wall_s", "s", lambda m: m.wall_s_per_task),
    ]
    return specs


def _number(key: str) -> float:
    try:
        return float(key)
    except ValueError:
        return float("inf")


def metric_table(columns: Sequence[tuple[str, Metrics | None]], rules: dict[str, str],
                 delta: bool = False) -> MetricTable:
    """Rows of every metric, one value column per (header, Metrics); with `delta`, last minus first column.
    A None column (a level one run of a comparison lacks) shows as missing."""
    metrics = [m for _, m in columns]
    rows = []
    for group, label, key, kind, get in _row_specs([m for m in metrics if m is not None]):
        values = [get(m) if m is not None else None for m in metrics]
        rows.append(MetricRow(group=group, label=label, rule=rules.get(key), values=[fmt(v, kind) for v in values],
                              delta=fmt_delta(values[0], values[-1], kind) if delta else None))
    headers = [h for h, _ in columns]
    delta_header = f"Δ ({headers[-1]} − {headers[0]})" if delta else None
    return MetricTable(headers=headers, rows=rows, delta_header=delta_header)


def level_columns(metrics: EvalMetrics) -> list[tuple[str, Metrics]]:
    levels = sorted(metrics.by_level.items(), key=lambda item: _number(item[0]))
    return [("overall", metrics.overall)] + [(level_name(key), m) for key, m in levels]


def level_name(key: str) -> str:
    return "no level" if key == "none" else f"level {key}"


def failure_rows(columns: Sequence[Metrics]) -> list[FailureRow]:
    """family / sub-reason / count in each column, families in order of total count."""
    counts: dict[tuple[str, str], list[int]] = {}
    for index, metrics in enumerate(columns):
        for family, reasons in metrics.failures.items():
            for reason, count in reasons.items():
                counts.setdefault((family, reason), [0] * len(columns))[index] += count
    totals: dict[str, int] = {}
    for (family, _), per_column in counts.items():
        totals[family] = totals.get(family, 0) + sum(per_column)
    ordered = sorted(counts.items(), key=lambda item: (-totals[item[0][0]], item[0][0], -sum(item[1]), item[0][1]))
    return [FailureRow(family=family, reason=reason or MISSING, counts=[str(c) for c in per_column])
            for (family, reason), per_column in ordered]


def anchor(task: str, prefix: str = "task") -> str:
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_-]+', '-', task).strip('-')}"


def task_rows(records: Sequence[SampleRecord], prefix: str = "task") -> list[TaskRow]:
    return [TaskRow(task=r.task, anchor=anchor(r.task, prefix), level=str(r.level) if r.level is not None else MISSING,
                    sample=r.sample, verdict=r.best_verdict,
                    speedup_eager=fmt_ci(r.best_speedup_eager, r.ci_low, r.ci_high),
                    speedup_compile=fmt_ci(r.best_speedup_compile, r.ci_compile_low, r.ci_compile_high),
                    rounds=len(r.rounds), cost=fmt_usd(r.cost_usd), stop_reason=r.error or r.stop_reason or "")
            for r in sorted(records, key=record_order)]


def compare_rows(runs: Sequence[Sequence[SampleRecord]], prefix: str = "task") -> list[CompareRow]:
    """One row per task of either run (its headline sample): each run's verdict and speedups side by side."""
    by_run = [{r.task: r for r in sorted(records, key=lambda r: -r.sample)} for records in runs]
    tasks = sorted({t for run in by_run for t in run}, key=lambda t: (_level_of(t, by_run), natural_key(t)))
    rows = []
    for task in tasks:
        picked = [run.get(task) for run in by_run]
        rows.append(CompareRow(
            task=task, anchor=anchor(task, prefix) if picked[0] is not None else None,
            verdicts=[r.best_verdict if r else "not run" for r in picked],
            speedups=[fmt_ci(r.best_speedup_eager, r.ci_low, r.ci_high) if r else MISSING for r in picked],
            speedups_compile=[fmt_ci(r.best_speedup_compile, r.ci_compile_low, r.ci_compile_high) if r else MISSING
                              for r in picked]))
    return rows


def _level_of(task: str, by_run: Sequence[dict[str, SampleRecord]]) -> int:
    return _level_key(next((run[task].level for run in by_run if task in run), None))


def record_order(record: SampleRecord) -> tuple[int, list[int | str], int]:
    """Level, then task name in natural order, then sample."""
    return _level_key(record.level), natural_key(record.task), record.sample


def _level_key(level: int | None) -> int:
    return level if level is not None else 1 << 30


def natural_key(text: str) -> list[int | str]:
    """Sorts `level1/2_x` before `level1/10_y`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def run_facts(run: Run) -> list[tuple[str, str]]:
    """Who ran what, on which machine and software, and when."""
    config, env = run.config, run.environment or Environment()
    gpu = f"{env.gpu_name} × {env.gpu_count}" if env.gpu_name and env.gpu_count > 1 else env.gpu_name
    facts = [("run", run.id), ("kind", run.kind), ("status", run.status), ("model", config.get("model")),
             ("judge model", judge_model(config)), ("device", config.get("device")),
             ("GPU", gpu), ("driver", env.driver_version), ("CUDA", env.cuda_version), ("torch", env.torch_version),
             ("Python", env.python_version), ("platform", env.platform),
             ("kernelwright", env.kernelwright_version), ("git commit", env.git_commit),
             ("started", run.created_at), ("finished", run.finished_at), ("note", run.note)]
    return [(label, str(value)) for label, value in facts if value not in (None, "")]
