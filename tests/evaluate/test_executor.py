"""Device lanes: each verification thread's workers see only their own GPU; busy time is accounted per lane."""

import threading
import time
from pathlib import Path

import pytest

from kernelwright.evaluate.executor import LocalExecutor
from kernelwright.sandbox.isolation import gpu_lane, lane_env, load_limits, worker_env


def test_a_lane_pins_the_gpu_workers_see(tmp_path: Path):
    limits = load_limits("correctness")
    token = gpu_lane.set("1")
    try:
        gpu_env, _ = worker_env(tmp_path, limits, gpu=True)
        cpu_env, _ = worker_env(tmp_path, limits, gpu=False)
        # no driver listing here to name the lane's GPU by UUID: its index, in PCI bus order for every process
        assert lane_env() == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    finally:
        gpu_lane.reset(token)
    assert gpu_env["CUDA_VISIBLE_DEVICES"] == "1"
    assert cpu_env["CUDA_VISIBLE_DEVICES"] == ""  # a CPU-only worker never gets a GPU
    assert lane_env() == {}


def test_one_candidate_per_lane_at_a_time_and_busy_time_is_counted():
    executor = LocalExecutor("cpu", cpu_workers=2)
    inside, most = [0], [0]
    lock = threading.Lock()

    def hold() -> None:
        with executor._lane():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = executor.stats()
    assert most[0] == 1 and executor.lanes == 1
    assert stats.lanes["cpu"] >= 0.2 - 1e-3 and 0 < stats.busy_share <= 1.0


def test_cpu_timing_waits_for_running_builds_and_holds_new_ones():
    from kernelwright.evaluate.executor import QuietTiming

    quiet, events = QuietTiming(), []
    build_started, timing_asked = threading.Event(), threading.Event()

    def first_build() -> None:
        with quiet.build():
            events.append("build 1 starts")
            build_started.set()
            timing_asked.wait()
            time.sleep(0.05)
            events.append("build 1 ends")

    def timing() -> None:
        build_started.wait()
        timing_asked.set()
        with quiet.timing():
            events.append("timing starts")
            time.sleep(0.05)
            events.append("timing ends")

    def second_build() -> None:
        timing_asked.wait()
        time.sleep(0.02)  # asks while the timing waits for build 1
        with quiet.build():
            events.append("build 2 starts")

    threads = [threading.Thread(target=f) for f in (first_build, timing, second_build)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert events == ["build 1 starts", "build 1 ends", "timing starts", "timing ends", "build 2 starts"]


ROOT = Path(__file__).resolve().parents[2]
RAISES_ON_IMPORT = '''import torch.nn as nn
from torch.utils.cpp_extension import load_inline

raise RuntimeError("no extension today")


class ModelNew(nn.Module):
    def forward(self, x):
        return x
'''


@pytest.mark.parametrize("name", ["raises_on_import", "static_reject"])
def test_an_early_verdict_never_takes_a_device_lane(name: str, build_cache_root: Path):
    """build() hands back prebuild's early verdict and check() returns it without verifying again on a lane; the
    verdict is the one verify() gives."""
    from kernelwright.evaluate.executor import check
    from kernelwright.sandbox.build import BuildCache
    from kernelwright.tasks import load_task
    from kernelwright.verify.models import VerificationResult
    from kernelwright.verify.pipeline import VerifyOptions, verify

    task = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
    source = (RAISES_ON_IMPORT if name == "raises_on_import"
              else (ROOT / "tests" / "adversarial" / "cpu" / "caching_by_data_ptr.py").read_text())
    options = VerifyOptions(device="cpu", time_candidate=False, compile_baseline=False)
    executor = LocalExecutor("cpu", cpu_workers=1, cache=BuildCache(build_cache_root))

    early = executor.build(task, source, options)
    assert isinstance(early, VerificationResult) and early.wall_s > 0
    result = check(executor, task, source, options)
    stats = executor.stats()
    assert (stats.builds, stats.verifications, stats.lanes["cpu"]) == (2, 0, 0.0)

    expected = verify(task, source, options, BuildCache(build_cache_root))
    assert expected.verdict == ("RUNTIME_ERROR" if name == "raises_on_import" else "STATIC_REJECT")
    timing = {"wall_s", "phase_seconds"}
    assert result.model_dump(exclude=timing) == expected.model_dump(exclude=timing)
    assert early.model_dump(exclude=timing) == expected.model_dump(exclude=timing)
    assert set(early.phase_seconds) == set(expected.phase_seconds) and "static" in early.phase_seconds
    if name == "raises_on_import":
        assert "no extension today" in (result.error or "")
    else:
        assert result.reason == "RESULT_CACHING"
