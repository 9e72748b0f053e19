"""`verify`'s ExecutionContext is passed down explicitly: each phase is told to `on_phase` as it ends, the timing
phase runs under `timing_guard`, and the lane reaches every phase that starts a GPU worker. The workers are stood
in for here (no compile, no subprocess); tests/evaluate runs the real early phases."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from kernelwright.sandbox.build import BuildCache, BuildOutcome
from kernelwright.sandbox.context import ExecutionContext
from kernelwright.sandbox.extensions import Toolchain
from kernelwright.tasks import load_task
from kernelwright.verify import pipeline
from kernelwright.verify import sanitize as sanitize_module
from kernelwright.verify.correctness import CorrectnessRun
from kernelwright.verify.kernelbench import KernelBenchTiming
from kernelwright.verify.models import CorrectnessReport
from kernelwright.verify.sanitize import SanitizerReport
from kernelwright.verify.timing import TimingReport

TASK = load_task(Path(__file__).resolve().parents[2] / "tasks" / "level1" / "6_softmax.py")
SOURCE = '''import torch.nn as nn
from torch.utils.cpp_extension import load_inline

ext = load_inline(name="ctx_ext", cpp_sources="int twice(int x) { return 2 * x; }", functions=["twice"])


class ModelNew(nn.Module):
    def forward(self, x):
        return x
'''


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """inspect, build, correctness and timing stood in for; what each was given is kept."""
    seen: dict[str, Any] = {"guard": [], "lanes": {}}
    spec = {"name": "ctx_ext", "cpp_sources": ["int twice(int x) { return 2 * x; }"], "functions": ["twice"]}

    def build_all(specs: list, toolchain: Toolchain, cache: BuildCache, workers: int) -> list[BuildOutcome]:
        return [BuildOutcome(key="k", module="ctx_ext", ok=True, cached=True, seconds=0.0, toolchain=toolchain)]

    def run_correctness(*args: Any, lane: str | None = None, **kwargs: Any) -> CorrectnessRun:
        seen["lanes"]["correctness"] = lane
        return CorrectnessRun(plan=None, report=CorrectnessReport(), worker={"ok": True})  # type: ignore[arg-type]

    def run_timing(*args: Any, lane: str | None = None, **kwargs: Any) -> TimingReport:
        seen["lanes"]["timing"] = lane
        seen["guard"].append("timing inside the guard" if seen.get("held") else "timing outside the guard")
        return TimingReport(device="cpu", shape_overrides={})

    monkeypatch.setattr(pipeline, "inspect_candidate", lambda source: ({"ok": True, "specs": [spec]},
                                                                          SimpleNamespace(timed_out=False)))
    monkeypatch.setattr(pipeline, "build_all", build_all)
    monkeypatch.setattr(pipeline, "run_correctness", run_correctness)
    monkeypatch.setattr(pipeline, "proceeds", lambda outcomes: True)  # the stand-in correctness decides nothing
    def run_kernelbench_timing(*args: Any, lane: str | None = None, **kwargs: Any) -> KernelBenchTiming:
        seen["lanes"]["kernelbench"] = lane
        return KernelBenchTiming()

    def sanitize(*args: Any, lane: str | None = None, **kwargs: Any) -> SanitizerReport:
        seen["lanes"]["sanitize"] = lane
        return SanitizerReport()

    monkeypatch.setattr(pipeline, "run_timing", run_timing)
    monkeypatch.setattr(pipeline, "run_kernelbench_timing", run_kernelbench_timing)
    monkeypatch.setattr(sanitize_module, "sanitize", sanitize)
    return seen


def test_verify_tells_on_phase_each_phase_and_holds_the_timing_guard(stand_ins: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    told: list[str] = []

    @contextmanager
    def guard() -> Iterator[None]:
        stand_ins["held"] = True
        told.append("guard taken")
        try:
            yield
        finally:
            stand_ins["held"] = False
            told.append("guard released")

    context = ExecutionContext(lane="1", timing_guard=guard, on_phase=told.append)
    options = pipeline.VerifyOptions(device="cpu", compile_baseline=False, sanitize=True,
                                     timing_protocol="kernelbench")
    result = pipeline.verify(TASK, SOURCE, options, BuildCache(tmp_path), context=context)
    assert told == ["static", "inspect", "build", "correctness", "sanitize", "guard taken", "guard released",
                    "timing", "kernelbench timing"]
    assert list(result.phase_seconds) == ["static", "inspect", "build", "correctness", "sanitize", "timing",
                                          "kernelbench timing"]
    assert stand_ins["guard"] == ["timing inside the guard"]
    assert stand_ins["lanes"] == {"correctness": "1", "sanitize": "1", "timing": "1", "kernelbench": "1"}


def test_without_a_context_nothing_is_told_and_no_lane_is_passed(stand_ins: dict[str, Any], tmp_path: Path) -> None:
    options = pipeline.VerifyOptions(device="cpu", compile_baseline=False)
    result = pipeline.verify(TASK, SOURCE, options, BuildCache(tmp_path))
    assert "timing" in result.phase_seconds and stand_ins["guard"] == ["timing outside the guard"]
    assert stand_ins["lanes"] == {"correctness": None, "timing": None}


def test_prebuild_tells_on_phase_its_phases(stand_ins: dict[str, Any], tmp_path: Path) -> None:
    told: list[str] = []
    built = pipeline.prebuild(TASK, SOURCE, pipeline.VerifyOptions(device="cpu"), BuildCache(tmp_path),
                              ExecutionContext(on_phase=told.append))
    assert isinstance(built, list) and told == ["static", "inspect", "build"]


def test_the_trusted_side_uses_the_lane_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference's process and the in-process comparison name the lane's GPU; without a lane, the default."""
    import subprocess

    import torch

    from kernelwright.sandbox import gpu_devices, isolation
    from kernelwright.verify import trusted
    from kernelwright.verify.compare import comparison_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert comparison_device("cuda", "1") == "cuda:1" and comparison_device("cuda", None) == "cuda"
    assert comparison_device("cpu", "1") is None

    monkeypatch.setattr(isolation, "lane_nodes",
                        lambda lane: gpu_devices.lane_nodes(lane, Path("/nonexistent"), Path("/nonexistent")))
    envs: list[dict[str, str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        envs.append(kwargs["env"])
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(trusted.subprocess, "run", run)
    trusted.run_trusted("kernelwright.verify.reference_worker", what="the task's reference", lane="1")
    assert envs[0]["CUDA_VISIBLE_DEVICES"] == "1" and envs[0]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
