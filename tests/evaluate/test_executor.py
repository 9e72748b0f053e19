"""Device lanes: each verification's workers see only their own GPU; busy time is accounted per lane."""

import threading
import time
from pathlib import Path

import pytest

from kernelwright.evaluate.executor import LocalExecutor
from kernelwright.sandbox import gpu_devices, isolation
from kernelwright.sandbox.context import ExecutionContext
from kernelwright.sandbox.isolation import lane_env, load_limits, worker_env


@pytest.fixture
def no_driver_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No driver listing to name a lane's GPU by UUID, on any machine: a lane is its index, in PCI bus order."""
    monkeypatch.setattr(isolation, "lane_nodes",
                        lambda lane: gpu_devices.lane_nodes(lane, tmp_path / "dev", tmp_path / "no-gpus"))


def test_a_lane_pins_the_gpu_workers_see(tmp_path: Path, no_driver_listing: None):
    limits = load_limits("correctness")
    gpu_env, _ = worker_env(tmp_path, limits, gpu=True, lane="1")
    cpu_env, _ = worker_env(tmp_path, limits, gpu=False, lane="1")
    assert lane_env("1") == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    assert gpu_env["CUDA_VISIBLE_DEVICES"] == "1"
    assert cpu_env["CUDA_VISIBLE_DEVICES"] == ""  # a CPU-only worker never gets a GPU
    assert lane_env(None) == {}


def test_threads_with_different_lanes_do_not_see_each_others(tmp_path: Path, no_driver_listing: None):
    """The lane is an argument, not thread state: threads building worker environments at the same time, each with
    its own lane, each get their own GPU, and a thread that passes none gets no lane of another's."""
    limits, barrier, seen = load_limits("correctness"), threading.Barrier(3), {}
    unpinned = worker_env(tmp_path, limits, gpu=True)[0].get("CUDA_VISIBLE_DEVICES")  # whatever the host passes on

    def build(lane: str | None) -> None:
        barrier.wait()
        for _ in range(50):
            env, _ = worker_env(tmp_path, limits, gpu=True, lane=lane)
            seen.setdefault(lane, set()).add(env.get("CUDA_VISIBLE_DEVICES"))

    threads = [threading.Thread(target=build, args=(lane,)) for lane in ("0", "1", None)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"0": {"0"}, "1": {"1"}, None: {unpinned}}


def test_the_local_executor_hands_each_verification_its_lane_as_context():
    executor = LocalExecutor("cpu", cpu_workers=1)
    with executor._lane() as context:
        assert isinstance(context, ExecutionContext) and context.lane is None
        assert context.timing_guard == executor._quiet.timing  # CPU: timing keeps compiles off the cores
    told: list[str] = []
    context.with_phase_listener(told.append).on_phase("build")
    assert told == ["build"] and context.with_phase_listener(None) is context


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
    told: list[str] = []
    result = check(executor, task, source, options, on_phase=told.append)
    assert told == (["static", "inspect"] if name == "raises_on_import" else ["static"])  # passed down explicitly
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
