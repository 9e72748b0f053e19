"""The live view of `kernelwright eval`: samples done / running / failed, the best speedups so far, spend; plain
lines when not a terminal."""

from __future__ import annotations

import threading

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..agents.budget import Spend
from ..agents.loop import Step
from .progress_lines import PhaseClock, step_line
from .render import console

SHOWN_RUNNING = 8


class EvalProgress:
    def __init__(self, total: int, spend: Spend, enabled: bool = True, samples: int = 1) -> None:
        self.spend, self.enabled, self.samples = spend, enabled, samples
        self.running: dict[tuple[str, int], str] = {}  # (task, sample) -> its latest step
        self.best: dict[str, float] = {}
        self.failed = 0
        self._lock = threading.Lock()
        self.bar = Progress(TextColumn("samples"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console)
        self.task = self.bar.add_task("samples", total=total)
        self.phases = PhaseClock()
        self.plain = enabled and not console.is_terminal  # a pipe or a log: one line per step instead
        self.live = (Live(get_renderable=self._view, console=console, refresh_per_second=4)
                     if enabled and not self.plain else None)

    def __enter__(self) -> EvalProgress:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.refresh()
            self.live.__exit__(None, None, None)

    def on_step(self, step: Step) -> None:
        with self._lock:
            key = (step.task, step.sample)
            self.phases.clear(step.task, step.sample)
            if self.plain:
                console.print(escape(step_line(step, self.samples)), highlight=False, soft_wrap=True)
            if step.kind == "stop":
                return
            self.running[key] = f"round {step.round}: {step.kind} {step.detail}".strip()
            if step.kind == "final":
                self.running.pop(key, None)
                if step.speedup is not None and step.verdict == "PASS":
                    self.best[step.task] = max(step.speedup, self.best.get(step.task, 0.0))

    def on_phase(self, task: str, sample: int, phase: str) -> None:
        self.phases.enter(task, sample, phase)

    def sample_done(self, task: str, sample: int, passed: bool) -> None:
        with self._lock:
            self.running.pop((task, sample), None)
            self.failed += 0 if passed else 1
            self.bar.advance(self.task)
            if self.plain:
                console.print(escape(f"done {int(self.bar.tasks[0].completed)} of {self.bar.tasks[0].total:.0f} samples: "
                                     f"{task}{f' #{sample}' if self.samples > 1 else ''} "
                                     f"{'correct' if passed else 'without a correct kernel'}"),
                              highlight=False, soft_wrap=True)

    def _view(self) -> Group:
        table = Table(show_header=True, box=None, title_justify="left")
        table.add_column("running")
        table.add_column("step", overflow="fold")
        for (task, sample), step in list(self.running.items())[:SHOWN_RUNNING]:
            phase = self.phases.label(task, sample)
            shown = f"{step.split(':')[0]}: {phase}" if phase else step
            table.add_row(escape(f"{task} #{sample}" if self.samples > 1 else task), escape(shown[:70]))
        top = sorted(self.best.items(), key=lambda item: -item[1])[:5]
        best = ", ".join(f"{escape(t)} {s:.2f}x" for t, s in top) or "-"
        done = int(self.bar.tasks[0].completed)
        summary = (f"done {done} · running {len(self.running)} · without a correct kernel {self.failed} · "
                   f"best: {best} · {self.spend.input_tokens}/{self.spend.output_tokens} tokens · "
                   f"${self.spend.cost_usd:.4f}")
        return Group(self.bar, summary, table)
