"""`kernelwright show` renders a round's timing as `verify` does, the fresh-process re-measurement included."""

import io

import pytest
from rich.console import Console

from kernelwright.cli import show_cmd
from kernelwright.report.trajectory import RoundView, TaskView

TIMING = {"candidate_ms": 0.5, "eager_ms": 1.0, "compile_ms": 0.75, "speedup_eager": 2.0, "ci_low": 1.9,
          "ci_high": 2.1, "speedup_compile": 1.5, "remeasured": [2.25, 2.0]}


def test_show_prints_the_timing_and_its_re_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(show_cmd, "console", Console(file=out, width=200, color_system=None))
    view = RoundView(round=1, candidate_id="c1", origin="seed", verdict="CORRECT", timing=TIMING)
    show_cmd.render_task(TaskView(task="level1/1_x", task_hash="h", level=1, rounds=[view]), full=False)
    text = out.getvalue()
    assert "candidate 0.5 ms · eager 1 ms · compiled 0.75 ms" in text
    assert "speedup vs eager 2.00x (95% CI 1.90-2.10) · vs torch.compile 1.50x" in text
    assert "re-measured in a fresh process: 2.25x then 2.00x; the lower stands" in text


def test_show_without_a_re_measurement_prints_no_such_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(show_cmd, "console", Console(file=out, width=200, color_system=None))
    timing = {k: v for k, v in TIMING.items() if k != "remeasured"}
    show_cmd.render_task(TaskView(task="t", task_hash="h", level=None, rounds=[RoundView(round=1, timing=timing)]),
                         full=False)
    assert "speedup vs eager 2.00x" in out.getvalue()
    assert "re-measured" not in out.getvalue()
