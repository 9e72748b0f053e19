"""What the progress views of `run` and `eval` share: a step as one plain line, and each sample's current phase."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from ..agents.loop import Step


def step_line(step: Step, samples: int = 1) -> str:
    """One line per step, for output that is not a terminal (a pipe, a log file)."""
    who = f"{step.task} #{step.sample}" if samples > 1 else step.task
    text = f"{time.strftime('%H:%M:%S')} {who} round {step.round}: {step.kind}"
    if step.detail:
        text += f" {step.detail.splitlines()[0]}"
    if step.verdict and step.verdict not in text:
        text += f" [{step.verdict}]"
    if step.speedup is not None:
        text += f" {step.speedup:.2f}x eager"
    return text + (" (stored)" if step.resumed else "")


class PhaseClock:
    """The phase each running sample is in (build, correctness, timing, profile) and since when."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: dict[tuple[str, int], tuple[str, float]] = {}

    def enter(self, task: str, sample: int, phase: str) -> None:
        with self._lock:
            self._now[(task, sample)] = (phase, time.monotonic())

    def clear(self, task: str, sample: int) -> None:
        with self._lock:
            self._now.pop((task, sample), None)

    def label(self, task: str, sample: int) -> str | None:
        """`timing 12s`, or None when the sample is not in a phase (waiting for a model, done)."""
        with self._lock:
            found = self._now.get((task, sample))
        if found is None:
            return None
        phase, since = found
        return f"{phase} {time.monotonic() - since:.0f}s"


class PhaseStatus:
    """`verify`'s status: the phase running now and for how long (re-rendered on every refresh of a spinner), or one
    plain line per phase when `plain` (output that is not a terminal)."""

    def __init__(self, label: str, plain: bool = False) -> None:
        self.label, self.plain = label, plain
        self.phase, self.since = "", time.monotonic()

    def enter(self, phase: str) -> None:
        if phase == self.phase:
            return
        self.phase, self.since = phase, time.monotonic()
        if self.plain:
            from .render import console

            console.print(f"{time.strftime('%H:%M:%S')} {self.label}: {phase}", highlight=False, soft_wrap=True,
                          markup=False)

    def __rich__(self) -> Text:
        return Text(f"{self.label} · {self.phase} {time.monotonic() - self.since:.0f}s")
