"""The flat JSON an eval's `--json` prints: headline metrics, and one object per task sample."""

from __future__ import annotations

from typing import Any

from .metrics_models import EvalMetrics, SpeedupStats
from .records import SampleRecord


def json_metrics(metrics: EvalMetrics) -> dict[str, Any]:
    """Headline metrics of the whole run under flat keys ("fast_1.2_eager", "geomean_speedup_eager", ...)."""
    m = metrics.overall
    out: dict[str, Any] = {"tasks": m.tasks, "samples_per_task": m.samples_per_task,
                           "correct_rate": m.correct_rate, "compile_rate": m.compile_rate}
    for name, stats in (("eager", m.eager), ("compile", m.compile)):
        out.update(_speedups(name, stats))
    out.update({
        "pass_at_k": dict(m.pass_at_k),
        "fast_1_at_k": dict(m.fast_1_at_k),
        "cost_usd": m.cost_usd,
        "cost_per_task": m.cost_per_task,
        "cost_per_solved_task": m.cost_per_solved_task,
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "wall_s": m.wall_s_total,
        "wall_s_per_task": m.wall_s_per_task,
    })
    return out


def json_task(record: SampleRecord) -> dict[str, Any]:
    return {
        "task": record.task,
        "level": record.level,
        "sample": record.sample,
        "best_verdict": record.best_verdict,
        "best_speedup_eager": record.best_speedup_eager,
        "best_speedup_compile": record.best_speedup_compile,
        "ci_low": record.ci_low,
        "ci_high": record.ci_high,
        "rounds": len(record.rounds),
        "llm_calls": record.llm_calls,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": record.cost_usd,
        "stop_reason": record.stop_reason,
        "finished": record.finished,
    }


def _speedups(name: str, stats: SpeedupStats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in stats.fast_p.items():
        out[f"fast_{float(key):g}_{name}"] = value
    out[f"geomean_speedup_{name}"] = stats.geomean_correct
    out[f"geomean_speedup_{name}_all"] = stats.geomean_all
    out[f"median_speedup_{name}"] = stats.median_correct
    out[f"mean_speedup_{name}"] = stats.mean_correct
    return out
