"""`ExecutionContext`: what one verification is given by whoever runs it, passed down explicitly.

It lives in sandbox because the isolation layer needs the lane, and sandbox does not import verify.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace


def _ignore_phase(name: str) -> None:
    pass


@dataclass(frozen=True)
class ExecutionContext:
    """`lane`: the GPU index ("0", "1", ...) this verification's GPU workers may see; None: no lane (the CPU, or
    the process's default device). `timing_guard`: held around the timing phase (on the CPU backend, the
    evaluation's guard that keeps compiles off the cores meanwhile). `on_phase`: told each phase's name as it
    ends, in the verifying thread (progress views)."""

    lane: str | None = None
    timing_guard: Callable[[], AbstractContextManager] = nullcontext
    on_phase: Callable[[str], None] = _ignore_phase

    def with_phase_listener(self, on_phase: Callable[[str], None] | None) -> ExecutionContext:
        """This context telling `on_phase` (None: this context unchanged)."""
        return self if on_phase is None else replace(self, on_phase=on_phase)
