"""Profiling a verified CUDA candidate: Nsight Compute for real, and the torch.profiler fallback on CUDA.

Run on a GPU machine with `pytest -m gpu tests/profile`; without CUDA these skip.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import torch

from kernelwright.profile import profile_candidate
from kernelwright.profile.config import load_profiler_config
from kernelwright.profile.ncu import NCU_ENV, NO_PERMISSION, find_ncu
from kernelwright.sandbox.build import BuildCache
from kernelwright.tasks import load_task
from kernelwright.verify.models import VerificationResult
from kernelwright.verify.pipeline import VerifyOptions, verify

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "tests" / "adversarial" / "cuda" / "control_softmax_cuda.py"
TASK_PATH = ROOT / "tasks" / "level1" / "6_softmax.py"
SETTINGS = load_profiler_config()
FAILING_NCU = """#!/bin/sh
echo "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters"
exit 1
"""


@pytest.fixture(scope="module")
def cache(build_cache_root: Path) -> BuildCache:
    return BuildCache(build_cache_root)


@pytest.fixture(scope="module")
def verified(cache: BuildCache) -> tuple[str, VerificationResult]:
    source = CANDIDATE.read_text()
    result = verify(load_task(TASK_PATH), source, VerifyOptions(device="cuda", time_candidate=False,
                                                                compile_baseline=False), cache)
    assert result.verdict == "PASS", result.summary
    return source, result


def test_ncu_profiles_the_own_kernel_with_the_curated_metrics(verified, cache) -> None:
    if find_ncu(SETTINGS.ncu)[0] is None:
        pytest.skip("ncu is not installed here")
    source, result = verified
    report = profile_candidate(load_task(TASK_PATH), source, result, device="cuda", cache=cache)
    if report.fallback == NO_PERMISSION:
        pytest.skip("this machine does not let ncu read the GPU performance counters")
    assert report.ok and report.tool == "ncu" and report.fallback is None, (report.error, report.fallback, report.notes)
    assert report.overrides == {}
    (own,) = report.own_kernels()
    assert own.name.startswith("softmax_kernel") and own.calls == SETTINGS.ncu.profiled_calls and own.total_us > 0
    left_out = {m for note in report.notes if "left out" in note for m in note.split(": ", 1)[1].split(", ")}
    assert set(SETTINGS.ncu.metrics) - left_out <= set(own.metrics)
    assert 0 < float(own.metrics["dram__throughput.avg.pct_of_peak_sustained_elapsed"]) <= 100
    assert float(own.metrics["launch__registers_per_thread"]) > 0
    assert report.metric_units["gpu__time_duration.sum"] == "nsecond"
    assert report.roofline is not None and report.roofline.bound == "memory"
    assert 0 < report.roofline.roof_fraction <= 1.0
    lines = report.highlights()
    assert any(line.startswith("own kernel softmax_kernel") and "DRAM throughput" in line for line in lines)


def test_a_failing_ncu_falls_back_to_torch_profiler_kernels(verified, cache, tmp_path, monkeypatch) -> None:
    fake = tmp_path / "ncu"
    fake.write_text(FAILING_NCU)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(NCU_ENV, str(fake))
    source, result = verified
    report = profile_candidate(load_task(TASK_PATH), source, result, device="cuda", cache=cache)
    assert report.ok, report.error
    assert report.tool == "torch.profiler" and report.fallback == NO_PERMISSION
    own = report.own_kernels()
    assert [row.name.split("(")[0] for row in own] == ["softmax_kernel"]
    assert own[0].calls == SETTINGS.torch.profiled_calls and own[0].total_us > 0
    assert report.roofline is not None and report.roofline.time_source == "torch.profiler kernel durations"
    assert 0 < report.roofline.roof_fraction <= 1.0
    assert report.highlights()[0].startswith("profiled with torch.profiler because ncu: no permission")
