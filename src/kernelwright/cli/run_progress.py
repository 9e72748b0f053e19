"""The live view of `kernelwright run`: one row per task, run totals underneath; plain lines when not a terminal."""

from __future__ import annotations

import threading
from typing import Any

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from ..agents.budget import Spend
from ..agents.loop import Step
from .progress_lines import PhaseClock, step_line
from .render import console


class RunProgress:
    def __init__(self, tasks: list[str], spend: Spend, enabled: bool = True) -> None:
        self.rows: dict[str, dict[str, Any]] = {t: {"round": "-", "step": "waiting", "verdict": "", "best": None}
                                                for t in tasks}
        self.spend = spend
        self.phases = PhaseClock()
        self._lock = threading.Lock()  # samples of an evaluation report from their own threads
        self.plain = enabled and not console.is_terminal  # a pipe or a log: one line per step instead
        self.live = (Live(get_renderable=self.table, console=console, refresh_per_second=4, transient=False)
                     if enabled and not self.plain else None)

    def __enter__(self) -> RunProgress:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.refresh()
            self.live.__exit__(None, None, None)

    def on_step(self, step: Step) -> None:
        with self._lock:
            self.phases.clear(step.task, step.sample)
            self._on_step(step)
            if self.plain:
                console.print(escape(step_line(step)), highlight=False, soft_wrap=True)

    def on_phase(self, task: str, sample: int, phase: str) -> None:
        self.phases.enter(task, sample, phase)

    def _on_step(self, step: Step) -> None:
        row = self.rows.setdefault(step.task, {"round": "-", "step": "", "verdict": "", "best": None})
        row["round"] = str(step.round)
        row["step"] = f"{step.kind}{' ' + step.detail if step.detail else ''}{' (stored)' if step.resumed else ''}"
        if step.verdict:
            row["verdict"] = step.verdict
        if step.speedup is not None and (row["best"] is None or step.speedup > row["best"] or step.kind == "final"):
            row["best"] = step.speedup

    def table(self) -> Table:
        table = Table(title="kernelwright run", caption=(
            f"{self.spend.llm_calls} LLM calls · {self.spend.input_tokens} in / {self.spend.output_tokens} out tokens"
            f" · ${self.spend.cost_usd:.4f}"), title_justify="left")
        for column in ("task", "round", "step", "verdict", "best ×eager"):
            table.add_column(column, overflow="fold")
        for task, row in list(self.rows.items()):
            best = f"{row['best']:.2f}x" if row["best"] is not None else "-"
            step = self.phases.label(task, 0) or row["step"]
            table.add_row(escape(task), row["round"], escape(step[:70]), row["verdict"], best)
        return table
