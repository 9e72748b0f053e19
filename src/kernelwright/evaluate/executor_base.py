"""What every executor shares: the Executor protocol, lane statistics, and the build-then-verify step. The local
and Ray executors both import it; neither imports the other at module level."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, Field

from ..profile.models import ProfileReport
from ..sandbox.build import BuildCache, BuildOutcome
from ..sandbox.context import ExecutionContext
from ..tasks import Task
from ..verify.models import VerificationResult
from ..verify.pipeline import VerifyOptions, prebuild


class LaneStats(BaseModel):
    """Busy time per lane and of the build pool, for throughput and overlap (the GPU's busy share)."""

    wall_s: float = 0.0
    lanes: dict[str, float] = Field(default_factory=dict)  # lane -> seconds verifying or profiling
    build_s: float = 0.0  # summed over concurrent builds
    builds: int = 0
    verifications: int = 0

    @property
    def busy_share(self) -> float:
        """Share of the wall time the device lanes were busy, averaged over lanes."""
        if not self.lanes or self.wall_s <= 0:
            return 0.0
        return sum(self.lanes.values()) / (len(self.lanes) * self.wall_s)


PhaseCallback = Callable[[str], None]


class Executor(Protocol):
    """`on_phase`: told the name of each verifier phase as it ends, in the calling thread (progress views); an
    executor whose phases run elsewhere may not tell it."""

    lanes: int

    def build(self, task: Task, source: str, options: VerifyOptions,
              on_phase: PhaseCallback | None = None) -> VerificationResult | list[BuildOutcome]: ...

    def verify(self, task: Task, source: str, options: VerifyOptions,
               on_phase: PhaseCallback | None = None) -> VerificationResult: ...

    def profile(self, task: Task, source: str, result: VerificationResult, device: str,
                on_phase: PhaseCallback | None = None) -> ProfileReport: ...

    def stats(self) -> LaneStats: ...

    def close(self) -> None: ...


def timed_prebuild(task: Task, source: str, options: VerifyOptions, cache: BuildCache,
                   on_phase: PhaseCallback | None = None) -> VerificationResult | list[BuildOutcome]:
    """`prebuild`, with an early verdict's wall_s set as `verify` sets it (prebuild keeps no phase times)."""
    started = time.perf_counter()
    built = prebuild(task, source, options, cache, ExecutionContext().with_phase_listener(on_phase))
    if isinstance(built, VerificationResult):
        built.wall_s = time.perf_counter() - started
    return built


def check(executor: Executor, task: Task, source: str, options: VerifyOptions,
          on_phase: PhaseCallback | None = None) -> VerificationResult:
    """A candidate's verdict: built on the CPU pool; verified on a device lane only when the build left no verdict.
    `on_phase`: told each phase as it ends (see Executor)."""
    built = executor.build(task, source, options, on_phase)
    if isinstance(built, VerificationResult):
        return built
    return executor.verify(task, source, options, on_phase)
