"""The flat `--json` view of metrics and of one task sample."""

from __future__ import annotations

import math

import pytest

from kernelwright.report.metrics import compute_metrics
from kernelwright.report.metrics_json import json_metrics, json_task
from kernelwright.report.records import RoundRecord, SampleRecord


def test_json_metrics_flat_keys() -> None:
    records = [
        SampleRecord(task="level1/a", task_hash="a", level=1, best_verdict="PASS", best_speedup_eager=4.0,
                     best_speedup_compile=1.3, cost_usd=0.5, input_tokens=1000, output_tokens=100, wall_s=30.0,
                     rounds=[RoundRecord(round=0, verdict="PASS", perf="PERF_VALID", speedup_eager=4.0)]),
        SampleRecord(task="level1/b", task_hash="b", level=1, best_verdict="COMPILE_FAIL", cost_usd=0.3,
                     input_tokens=500, output_tokens=50, wall_s=10.0,
                     rounds=[RoundRecord(round=0, verdict="COMPILE_FAIL")]),
    ]
    out = json_metrics(compute_metrics(records))
    expected = {
        "correct_rate": 0.5, "compile_rate": 0.5,
        "fast_0_eager": 0.5, "fast_1_eager": 0.5, "fast_1.2_eager": 0.5, "fast_1.5_eager": 0.5, "fast_2_eager": 0.5,
        "fast_0_compile": 0.5, "fast_1_compile": 0.5, "fast_1.2_compile": 0.5, "fast_1.5_compile": 0.0,
        "fast_2_compile": 0.0,
        "geomean_speedup_eager": 4.0, "geomean_speedup_eager_all": 2.0,
        "geomean_speedup_compile": 1.3, "geomean_speedup_compile_all": math.sqrt(1.3),
        "median_speedup_eager": 4.0, "mean_speedup_eager": 4.0,
        "pass_at_k": {}, "cost_usd": 0.8, "cost_per_task": 0.4, "cost_per_solved_task": 0.8,
        "input_tokens": 1500, "output_tokens": 150, "wall_s": 40.0,
    }
    for key, value in expected.items():
        assert out[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_json_task() -> None:
    record = SampleRecord(task="level2/gemm", task_hash="h", level=2, sample=1, best_verdict="PASS",
                          best_speedup_eager=1.7, best_speedup_compile=0.9, ci_low=1.6, ci_high=1.8,
                          rounds=[RoundRecord(round=0, verdict="INCORRECT"), RoundRecord(round=1),
                                  RoundRecord(round=2, verdict="PASS")],
                          llm_calls=5, input_tokens=900, output_tokens=90, cost_usd=0.12, stop_reason="plateau")
    assert json_task(record) == {
        "task": "level2/gemm", "level": 2, "sample": 1, "best_verdict": "PASS", "best_speedup_eager": 1.7,
        "best_speedup_compile": 0.9, "ci_low": 1.6, "ci_high": 1.8, "rounds": 3, "llm_calls": 5,
        "input_tokens": 900, "output_tokens": 90, "cost_usd": 0.12, "stop_reason": "plateau", "finished": False,
    }
