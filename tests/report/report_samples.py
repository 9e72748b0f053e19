"""Report inputs built from the models directly: two small runs of three tasks each."""

from __future__ import annotations

from kernelwright.report.context import ReportContext, RunReport
from kernelwright.report.harness import HarnessSettings, TaskHarness
from kernelwright.report.metrics_models import EvalMetrics, Metrics, SpeedupStats
from kernelwright.report.records import RoundRecord, SampleRecord
from kernelwright.report.trajectory import CallView, RoundView, RunView, TaskView
from kernelwright.store import Environment, Run
from kernelwright.verify.policy import load_tolerances

GEMM, RELU, CONV = "level1/1_Square_matrix_multiplication_", "level1/19_ReLU", "level2/7_Conv3d_ReLU_GELU"
RULES = {
    "geomean_all": "geometric mean over all tasks of the speedup, a failed or untimed task counted as 1.0",
    "fast_p": "share of all tasks that are correct and faster than p times the baseline",
    "correct_rate": "share of tasks whose final re-verified best candidate is PASS",
}
DIFF = """--- round 0
+++ round 1
@@ -1,3 +1,3 @@
 import torch
-x = 1  # <script>alert("old")</script>
+x = 2  # <script>alert("xss")</script>
"""


def records(slower: bool = False) -> list[SampleRecord]:
    gemm = 1.2 if slower else 1.5
    return [
        SampleRecord(task=GEMM, task_hash="h-gemm", level=1, best_verdict="PASS", best_speedup_eager=gemm,
                     best_speedup_compile=1.1, ci_low=gemm - 0.1, ci_high=gemm + 0.1, ci_compile_low=1.0,
                     ci_compile_high=1.2, cost_usd=0.1234, input_tokens=12000, output_tokens=3400, llm_calls=4,
                     wall_s=95.0, finished=True, stop_reason="target reached",
                     rounds=[RoundRecord(round=0, verdict="INCORRECT"), RoundRecord(round=1, verdict="PASS",
                                                                                     speedup_eager=gemm)]),
        SampleRecord(task=RELU, task_hash="h-relu", level=1, best_verdict="INCORRECT", cost_usd=0.05,
                     rounds=[RoundRecord(round=0, verdict="INCORRECT", reason="mismatch")], finished=True),
        SampleRecord(task=CONV, task_hash="h-conv", level=2, best_verdict="PASS", best_speedup_eager=0.8,
                     ci_low=0.75, ci_high=0.85, best_speedup_compile=0.6, cost_usd=0.2, finished=True,
                     rounds=[RoundRecord(round=0, verdict="PASS", speedup_eager=0.8)]),
    ]


def metrics(slower: bool = False) -> EvalMetrics:
    eager = SpeedupStats(fast_p={"0": 2 / 3, "1.0": 1 / 3, "1.2": 0 if slower else 1 / 3, "1.5": 0.0, "2.0": 0.0},
                         geomean_correct=1.095445, geomean_all=1.062659, median_correct=1.15,
                         mean_correct=1.15, timed_tasks=2)
    compile_ = SpeedupStats(fast_p={"0": 2 / 3, "1.0": 1 / 3, "1.2": 0.0, "1.5": 0.0, "2.0": 0.0},
                            geomean_correct=0.812404, geomean_all=0.870551, timed_tasks=2)
    overall = Metrics(tasks=3, compile_rate=1.0, correct_rate=2 / 3, eager=eager, compile=compile_,
                      pass_at_k={"1": 2 / 3}, fast_p_by_round={"0": {"0": 1 / 3, "1.0": 0.0}, "1": {"0": 2 / 3, "1.0": 1 / 3}},
                      failures={"INCORRECT": {"mismatch": 1}}, input_tokens=12000, output_tokens=3400,
                      cost_usd=0.3734, cost_per_task=0.124467, cost_per_solved_task=0.1867, wall_s_total=95.0,
                      wall_s_per_task=31.67)
    level1 = Metrics(tasks=2, compile_rate=1.0, correct_rate=0.5, eager=SpeedupStats(fast_p={"1.0": 0.5}, timed_tasks=1),
                     failures={"INCORRECT": {"mismatch": 1}}, cost_usd=0.1734)
    level2 = Metrics(tasks=1, compile_rate=1.0, correct_rate=1.0, eager=SpeedupStats(fast_p={"1.0": 0.0}, timed_tasks=1), cost_usd=0.2)
    return EvalMetrics(overall=overall, by_level={"1": level1, "2": level2}, rules=RULES)


def view(run_id: str) -> RunView:
    run = Run(id=run_id, kind="agent", status="finished", created_at="2025-01-02T03:04:05+00:00",
              config={"model": "coder-model-x", "judge_model": "judge-model-y", "device": "cuda"},
              environment=Environment(gpu_name="NVIDIA H100 80GB HBM3", gpu_count=1, driver_version="550.54",
                                      cuda_version="12.4", torch_version="2.5.1", python_version="3.11.9",
                                      kernelwright_version="0.1.0", git_commit="abc1234"))
    call = CallView(id="c1", role="coder", purpose="write", model="coder-model-x", tokens_in=6000, tokens_out=1700,
                    cost_usd=0.06, latency_s=12.5, retries=0)
    gemm = TaskView(task=GEMM, task_hash="h-gemm", level=1, rounds=[
        RoundView(round=0, candidate_id="cand0", origin="seed", diff="+import torch\n", verdict="INCORRECT",
                  reason="mismatch", summary="1 of 12 trials wrong", failures=["shape 'nominal', output 0: off by 3"],
                  calls=[call]),
        RoundView(round=1, candidate_id="cand1", parent_id="cand0", origin="correction", diff=DIFF, verdict="PASS",
                  perf="PERF_VALID", advice="Use shared-memory tiling & <vectorised> loads.",
                  timing={"candidate_ms": 0.5, "eager_ms": 0.75, "speedup_eager": 1.5, "ci_low": 1.4,
                          "ci_high": 1.6, "method": "cuda_events"},
                  profile=["gemm_kernel: 92% of GPU time, 71% of peak DRAM bandwidth"], calls=[call]),
        RoundView(round=1, candidate_id="cand1", origin="final re-timing", final=True, verdict="PASS",
                  timing={"speedup_eager": 1.5, "ci_low": 1.4, "ci_high": 1.6}),
    ])
    relu = TaskView(task=RELU, task_hash="h-relu", level=1, rounds=[RoundView(round=0, verdict="INCORRECT")])
    conv = TaskView(task=CONV, task_hash="h-conv", level=2, rounds=[RoundView(round=0, verdict="PASS")])
    return RunView(run=run, tasks=[gemm, relu, conv])


def harness() -> HarnessSettings:
    return HarnessSettings(
        device="cuda", tolerances=load_tolerances(), timing_methods={"cuda_events": 3}, calls_per_sample=[1],
        timing_settings={"min_samples": 30, "target_rse": 0.01},
        sanitizer={"memcheck clean": 2, "racecheck clean": 2}, sanitizer_notes=["compute-sanitizer is not on PATH"],
        isolation=[{"method": "bwrap", "network": "isolated", "filesystem": "confined", "notes": []}],
        tasks=[TaskHarness(task=GEMM, dtype="float32", input_domain="real", shapes=["nominal", "odd"],
                           timing_overrides={}, inits=[4243, 4244], weights={"loaded": 2}, seeds=[424242],
                           verifications=3)])


def run_report(run_id: str = "0190aaaabbbb0001", slower: bool = False) -> RunReport:
    return RunReport(records=records(slower), metrics=metrics(slower), view=view(run_id), harness=harness())


def context(compare: bool = False) -> ReportContext:
    return ReportContext(main=run_report(), compare=run_report("0190ccccdddd0002", slower=True) if compare else None,
                         generated_at="2025-01-03T00:00:00+00:00")
