"""The live view of `kernelwright run`: one row per task, run totals underneath."""

from __future__ import annotations

import threading
from typing import Any

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from ..agents.budget import Spend
from ..agents.loop import Step
from .render import console


class RunProgress:
    def __init__(self, tasks: list[str], spend: Spend, enabled: bool = True) -> None:
        self.rows: dict[str, dict[str, Any]] = {t: {"round": "-", "step": "waiting", "verdict": "", "best": None}
                                                for t in tasks}
        self.spend = spend
        self._lock = threading.Lock()  # samples of an evaluation report from their own threads
        self.live = Live(self.table(), console=console, refresh_per_second=4, transient=False) if enabled else None

    def __enter__(self) -> RunProgress:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.update(self.table())
            self.live.__exit__(None, None, None)

    def on_step(self, step: Step) -> None:
        with self._lock:
            self._on_step(step)

    def _on_step(self, step: Step) -> None:
        row = self.rows.setdefault(step.task, {"round": "-", "step": "", "verdict": "", "best": None})
        row["round"] = str(step.round)
        row["step"] = f"{step.kind}{' ' + step.detail if step.detail else ''}{' (stored)' if step.resumed else ''}"
        if step.verdict:
            row["verdict"] = step.verdict
        if step.speedup is not None and (row["best"] is None or step.speedup > row["best"] or step.kind == "final"):
            row["best"] = step.speedup
        if self.live:
            self.live.update(self.table())

    def table(self) -> Table:
        table = Table(title="kernelwright run", caption=(
            f"{self.spend.llm_calls} LLM calls · {self.spend.input_tokens} in / {self.spend.output_tokens} out tokens"
            f" · ${self.spend.cost_usd:.4f}"), title_justify="left")
        for column in ("task", "round", "step", "verdict", "best ×eager"):
            table.add_column(column, overflow="fold")
        for task, row in self.rows.items():
            best = f"{row['best']:.2f}x" if row["best"] is not None else "-"
            table.add_row(escape(task), row["round"], escape(row["step"][:70]), row["verdict"], best)
        return table
