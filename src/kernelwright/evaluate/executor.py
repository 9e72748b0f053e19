"""Executors: compilation on a CPU pool, verification and profiling on one candidate per device lane.

A lane is one GPU (or, on the CPU backend, the machine: timing needs quiet cores). Threads of an evaluation call
`build` then `verify`; while one candidate holds a lane, others compile, so the GPU does not wait for compiles.
`build` returns the early verdict (static reject, import or compile failure) when there is one: that candidate is
done, and never reaches a lane.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator, Literal

from ..profile.models import ProfileReport
from ..sandbox.build import BuildCache, BuildOutcome
from ..sandbox.context import ExecutionContext
from ..tasks import Task
from ..verify.models import VerificationResult
from ..verify.pipeline import VerifyOptions, verify
from .executor_base import Executor, LaneStats, PhaseCallback, check, timed_prebuild  # noqa: F401  (re-exported)


def device_lanes(device: str) -> list[str | None]:
    if device == "cuda":
        import torch

        return [str(i) for i in range(max(1, torch.cuda.device_count()))]
    return [None]


class QuietTiming:
    """On the CPU backend compiles and timing share the cores: a timing phase waits for running builds to end and
    holds new ones back until it is done, so a speedup is never measured beside a compiler."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._builds = 0
        self._timing = False

    @contextmanager
    def build(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._timing)
            self._builds += 1
        try:
            yield
        finally:
            with self._cond:
                self._builds -= 1
                self._cond.notify_all()

    @contextmanager
    def timing(self) -> Iterator[None]:
        with self._cond:
            self._timing = True
            self._cond.wait_for(lambda: self._builds == 0)
        try:
            yield
        finally:
            with self._cond:
                self._timing = False
                self._cond.notify_all()


class LocalExecutor:
    def __init__(self, device: str, *, cpu_workers: int = 2, cache: BuildCache | None = None) -> None:
        self.device, self.cache = device, cache or BuildCache()
        self._builders = threading.BoundedSemaphore(max(1, cpu_workers))
        self._free: queue.Queue[str | None] = queue.Queue()
        names = device_lanes(device)
        for lane in names:
            self._free.put(lane)
        self.lanes = len(names)
        self._lock = threading.Lock()
        self._stats = LaneStats(lanes={str(lane or "cpu"): 0.0 for lane in names})
        self._started = time.monotonic()
        self._quiet = QuietTiming() if device == "cpu" else None

    def build(self, task: Task, source: str, options: VerifyOptions,
              on_phase: PhaseCallback | None = None) -> VerificationResult | list[BuildOutcome]:
        """prebuild on the CPU pool: the early verdict (timed as verify would time it) or the builds."""
        with self._builders, (self._quiet.build() if self._quiet else nullcontext()):
            started = time.monotonic()
            try:
                return timed_prebuild(task, source, options, self.cache, on_phase)
            finally:
                with self._lock:
                    self._stats.build_s += time.monotonic() - started
                    self._stats.builds += 1

    def verify(self, task: Task, source: str, options: VerifyOptions,
               on_phase: PhaseCallback | None = None) -> VerificationResult:
        with self._lane() as context:
            result = verify(task, source, options, self.cache, context.with_phase_listener(on_phase))
        with self._lock:
            self._stats.verifications += 1
        return result

    def profile(self, task: Task, source: str, result: VerificationResult, device: str,
                on_phase: PhaseCallback | None = None) -> ProfileReport:
        """`on_phase` is not told anything: profiling is one phase, which the caller names before it starts."""
        from ..profile import profile_candidate

        with self._lane() as context:
            return profile_candidate(task, source, result, device=device, cache=self.cache, lane=context.lane)

    @contextmanager
    def _lane(self) -> Iterator[ExecutionContext]:
        """A free lane, held while the body runs, as the context its verification runs in: the lane's GPU and, on
        the CPU backend, the guard that keeps compiles off the cores while timing runs."""
        lane = self._free.get()
        started = time.monotonic()
        try:
            yield ExecutionContext(lane=lane, timing_guard=self._quiet.timing if self._quiet else nullcontext)
        finally:
            with self._lock:
                key = str(lane or "cpu")
                self._stats.lanes[key] += time.monotonic() - started
            self._free.put(lane)

    def stats(self) -> LaneStats:
        with self._lock:
            return self._stats.model_copy(update={"wall_s": time.monotonic() - self._started}, deep=True)

    def close(self) -> None:
        pass


def open_executor(kind: Literal["local", "ray"], device: str, *, cpu_workers: int = 2,
                  cache: BuildCache | None = None, address: str | None = None) -> Any:
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(device, cache=cache, address=address)
    return LocalExecutor(device, cpu_workers=cpu_workers, cache=cache)
