"""Turns between the baseline worker and the candidate's timing worker, and twin workers before the load.

The conductor tests run stand-in workers as threads speaking the worker side of the protocol
(`kernelwright.sandbox.turns`); the end-to-end tests build the shared C++ softmax extension once and run the real
workers isolated. No wall-clock thresholds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kernelwright.sandbox.isolation import load_limits, run_isolated
from kernelwright.sandbox.process_tree import WorkerPause
from kernelwright.sandbox.turns import BLOCK, DONE, DONE_MAGIC, PREPARE, STOP, WARM, bind_turns
from kernelwright.tasks import load_task
from kernelwright.verify.timing import TimingSettings, preload_difference, run_timing
from kernelwright.verify.timing_turns import Conductor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from candidates import HONEST  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
SMALL = SOFTMAX.declarations.variants["small"]
QUICK = TimingSettings(min_samples=20, max_samples=60, max_seconds=2.0, warmup_max_s=1.0)
SETTINGS = {**QUICK.model_dump(), "min_samples": 10, "max_samples": 20}


def _stand_in(fds: tuple[int, int], subjects: list[str], seen: list[tuple[str, int, int]], name: str,
              block: int = 5) -> threading.Thread:
    channel = bind_turns(fds)

    def serve() -> None:
        while True:
            turn = channel.wait()
            seen.append((name, turn.kind, turn.round))
            if turn.kind == STOP:
                return
            if turn.kind == WARM:
                channel.done(turn, [1.0] * len(subjects))
            elif turn.kind == PREPARE:
                channel.done(turn, [1.0])
            else:
                channel.done(turn, [1.0 + 0.001 * k for k in range(block)])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_blocks_alternate_between_the_workers_in_rotating_order_until_enough_samples() -> None:
    conductor = Conductor({"baseline": ["eager", "compile"], "candidate": ["candidate"]}, SETTINGS, cuda=False,
                          deadline_s=60)
    seen: list[tuple[str, int, int]] = []
    workers = {name: _stand_in(conductor.worker_fds(name), subjects, seen, name)
               for name, subjects in conductor.workers.items()}
    log = conductor.start({name: thread.is_alive for name, thread in workers.items()}).join(timeout=30)
    for thread in workers.values():
        thread.join(timeout=10)  # each reads its STOP
    conductor.close()
    assert log.error is None and log.violation is None, log
    assert log.method == "perf_counter" and log.subjects == ["eager", "compile", "candidate"]
    assert log.stop_reason and 2 <= log.rounds <= 4  # 10 to 20 samples of 5-call blocks
    blocks = [(t.subject, t.round) for t in log.turns if t.kind == "block"]
    assert blocks[:6] == [("eager", 0), ("compile", 0), ("candidate", 0), ("compile", 1), ("candidate", 1),
                          ("eager", 1)]
    assert sorted(w for w, k, _ in seen if k == STOP) == ["baseline", "candidate"]
    # one worker at a time: every turn's worker saw its turn after the previous turn had ended
    assert [w for w, k, _ in seen if k == BLOCK][:3] == ["baseline", "baseline", "candidate"]


def test_a_worker_answering_out_of_step_ends_the_turns_as_tampering() -> None:
    conductor = Conductor({"baseline": ["eager"], "candidate": ["candidate"]}, SETTINGS, cuda=False, deadline_s=60)
    seen: list[tuple[str, int, int]] = []
    baseline = _stand_in(conductor.worker_fds("baseline"), ["eager"], seen, "baseline")
    turns_read, done_write = conductor.worker_fds("candidate")

    def liar() -> None:  # says "done" for a block it was never given, as soon as it is asked to warm up
        os.read(turns_read, 64)
        os.write(done_write, DONE.pack(DONE_MAGIC, BLOCK, 7, 0))

    thread = threading.Thread(target=liar, daemon=True)
    thread.start()
    log = conductor.start({"baseline": baseline.is_alive, "candidate": lambda: True}).join(timeout=30)
    conductor.close()
    assert log.violation and "candidate" in log.violation and log.stop_reason is None


def test_a_worker_that_ends_before_its_turn_ends_the_turns() -> None:
    conductor = Conductor({"baseline": ["eager"], "candidate": ["candidate"]}, SETTINGS, cuda=False, deadline_s=60)
    seen: list[tuple[str, int, int]] = []
    baseline = _stand_in(conductor.worker_fds("baseline"), ["eager"], seen, "baseline")
    log = conductor.start({"baseline": baseline.is_alive, "candidate": lambda: False}).join(timeout=30)
    baseline.join(timeout=10)
    conductor.close()
    assert log.error and "candidate" in log.error and log.violation is None
    assert ("baseline", STOP, -1) in seen  # the other worker is told to stop


def _state(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rfind(")") + 2]


def _settles(pid: int, stopped: bool) -> bool:
    """Whether the process reaches (or leaves) the stopped state; signals are delivered asynchronously."""
    for _ in range(500):
        if (_state(pid) == "T") == stopped:
            return True
        time.sleep(0.01)
    return False


def test_a_paused_worker_stands_still_until_it_may_go_on(tmp_path: Path) -> None:
    pause, pids = WorkerPause(), []

    def started(pid: int) -> None:
        pids.append(pid)
        pause.started(pid)

    limits = load_limits("timing").model_copy(update={"timeout_s": 30.0})
    argv = [sys.executable, "-c", "import time\nfor _ in range(300): time.sleep(0.01)"]
    thread = threading.Thread(target=run_isolated, args=(argv,),
                              kwargs={"job_dir": tmp_path, "limits": limits, "on_start": started}, daemon=True)
    thread.start()
    while not pids:
        time.sleep(0.01)
    assert pause.stop()
    assert _settles(pids[0], stopped=True)
    pause.go()
    assert _settles(pids[0], stopped=False)
    pause.close()
    thread.join()
    assert not pause.stop()  # the worker is gone: nothing to stop


# ---------------------------------------------------------------------------------------------- real workers


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


def test_the_correctness_and_timing_workers_are_twins_until_the_candidate_loads(builds: list[Any]) -> None:
    """Same modules, same dir(torch), same torch settings, same environment and extension-wrapper state just
    before the load; and neither has torch._dynamo (the compile baseline lives in the baseline worker)."""
    from kernelwright.verify.correctness import run_correctness
    from kernelwright.verify.pipeline import correctness_shapes

    run = run_correctness(SOFTMAX, HONEST, builds, correctness_shapes(SOFTMAX, "cpu"), "cpu", 2001)
    report = run_timing(SOFTMAX, HONEST, builds, SMALL, "cpu", 2002, compile_baseline=True, settings=QUICK)
    checked, timed = run.worker.get("preload"), report.preload
    assert checked and timed, (run.worker.get("error"), report.error)
    assert preload_difference(checked, timed) is None, preload_difference(checked, timed)
    assert checked == timed
    assert "_dynamo" not in checked["torch_attributes"] and "torch._dynamo" not in checked["modules"]
    assert checked["torch_state"]["num_threads"] == report.threads
    assert report.perf == "PERF_VALID", (report.flags, report.error)
    assert "compile" in report.subjects or report.compile_error  # compiled in the baseline worker, or says why not


def test_twins_that_differ_are_named() -> None:
    a = {"modules": ["torch", "kernelwright.verify.attribution"], "torch_state": {"num_threads": 2}}
    assert "kernelwright.verify.attribution" in preload_difference(a, {**a, "modules": ["torch"]})
    assert "num_threads" in preload_difference(a, {**a, "torch_state": {"num_threads": 1}})
    assert preload_difference(a, dict(a)) is None
