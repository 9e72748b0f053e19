"""KernelBench-protocol timing: its statistics, and real runs of both workers on the CPU (one shared C++ build)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from kernelwright.sandbox.isolation import IsolationInfo, WorkerOutcome
from kernelwright.tasks import load_task
from kernelwright.verify.kernelbench import KernelBenchTiming, run_kernelbench_timing, summarise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from candidates import HONEST, candidate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
SMALL = SOFTMAX.declarations.variants["small"]


def test_stats_are_kernelbench_s_mean_std_min_max() -> None:
    stats = summarise([1.0, 2.0, 4.0])
    assert stats.mean_ms == pytest.approx(7 / 3) and stats.std_ms == pytest.approx(statistics.pstdev([1, 2, 4]))
    assert (stats.min_ms, stats.max_ms, stats.trials) == (1.0, 4.0, 3)
    figures = KernelBenchTiming(method="cuda_event", subjects={"eager": summarise([2.0]), "candidate": stats},
                                speedup_eager=2.0 / stats.mean_ms)
    assert figures.line().startswith("KernelBench protocol (3 warm-up, 100 trials, cuda_event, mean): candidate 2.333 ms")
    assert KernelBenchTiming(error="candidate: timed out").line() == "KernelBench protocol: not measured (candidate: timed out)"


def test_a_worker_without_a_result_is_an_error_not_an_exception() -> None:
    lanes: list[object] = []

    def silent(argv: list[str], **kwargs: Any) -> WorkerOutcome:
        lanes.append(kwargs.get("lane", "not passed"))
        return WorkerOutcome(returncode=-9, signal=9, signal_name="SIGKILL", wall_s=0.1,
                             isolation=IsolationInfo(method="none", network="shared", filesystem="shared"))

    figures = run_kernelbench_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 5, runner=silent, lane="1")
    assert lanes == ["1"]  # the worker is started on the lane it was given
    assert figures.error == "eager: the worker ended without a result (exit -9, SIGKILL)" and figures.subjects == {}


@pytest.fixture(scope="module")
def builds(build_cache_root: Path) -> list[Any]:
    from kernelwright.sandbox.build import BuildCache, build_all
    from kernelwright.sandbox.candidate_loading import exec_candidate, recording_loader
    from kernelwright.sandbox.extensions import default_toolchain

    specs: list[Any] = []
    exec_candidate(HONEST, "candidate.py", recording_loader(specs))
    built = build_all(specs, default_toolchain("cpu"), BuildCache(build_cache_root))
    assert all(b.ok for b in built), [b.errors for b in built]
    return built


def test_both_subjects_are_timed_in_their_own_workers(builds: list[Any]) -> None:
    figures = run_kernelbench_timing(SOFTMAX, HONEST, builds, SMALL, "cpu", 7, trials=20)
    assert figures.error is None and figures.method == "perf_counter"
    assert set(figures.subjects) == {"eager", "candidate"} and figures.subjects["candidate"].trials == 20
    assert figures.speedup_eager == figures.subjects["eager"].mean_ms / figures.subjects["candidate"].mean_ms
    assert figures.shape_overrides == SMALL


def test_a_crashing_candidate_is_reported_with_its_stage(builds: list[Any]) -> None:
    figures = run_kernelbench_timing(SOFTMAX, candidate("        return ext.crash(x)"), builds, SMALL, "cpu", 7,
                                     trials=5)
    assert figures.error is not None and figures.error.startswith("candidate: ")
    assert "eager" in figures.subjects and "candidate" not in figures.subjects and figures.speedup_eager is None
