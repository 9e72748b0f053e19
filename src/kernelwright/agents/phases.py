"""Which phase of a candidate's check runs now (build, correctness, timing, profile), for progress views."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# the verifier names a phase as it ends; what runs after it
NEXT_PHASE = {"static": "build", "inspect": "build", "build": "correctness", "correctness": "timing",
              "sanitize": "timing", "timing": "timing", "kernelbench timing": "timing"}


@contextmanager
def reporting_phases(report: Callable[[str], None], first: str = "build") -> Iterator[None]:
    """Calls `report(phase)` with `first`, then with each phase the verifier starts, while the body runs."""
    from ..verify.pipeline import phase_listener

    report(first)
    token = phase_listener.set(lambda ended: report(NEXT_PHASE.get(ended, ended)))
    try:
        yield
    finally:
        phase_listener.reset(token)
