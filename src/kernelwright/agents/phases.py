"""Which phase of a candidate's check runs now (build, correctness, timing, profile), for progress views."""

from __future__ import annotations

from collections.abc import Callable

# the verifier names a phase as it ends; what runs after it
NEXT_PHASE = {"static": "build", "inspect": "build", "build": "correctness", "correctness": "timing",
              "sanitize": "timing", "timing": "timing", "kernelbench timing": "timing"}


def phase_reporter(report: Callable[[str], None], first: str = "build") -> Callable[[str], None]:
    """Calls `report(first)` now; returns the `on_phase` callback (for `verify`'s ExecutionContext or an executor)
    that calls `report(phase)` with each phase the verifier starts as the one before it ends."""
    report(first)
    return lambda ended: report(NEXT_PHASE.get(ended, ended))
