"""Shared rendering helpers: consoles, error lines, number formats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from ..verify.models import CorrectnessReport

console = Console()
NATURAL_WIDTH_LIMIT = 1000  # columns a table may take when the output is not a terminal
err_console = Console(stderr=True)


def print_table(table: Table) -> None:
    """A table at its natural width when the output is not a terminal (a pipe or a log cuts nothing short)."""
    if console.is_terminal:
        console.print(table)
    else:
        natural = console.measure(table, options=console.options.update_width(NATURAL_WIDTH_LIMIT)).maximum
        # print(width=) cannot go past the console's width: a console of the table's width writes to the same file
        Console(file=console.file, width=max(console.width, natural), no_color=console.no_color).print(table)


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr, then exit: the CLI never shows a traceback for bad input."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def human_count(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return str(value)


def human_bytes(value: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def require_device(device: str) -> None:
    """`cpu`, or `cuda` with a visible GPU; anything else is one clear line."""
    if device not in ("cpu", "cuda"):
        fail(f"unknown device {escape(repr(device))}: use --device cpu or --device cuda")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail("no CUDA GPU is visible here: use --device cpu (C++ candidates), or run on a GPU machine")


def timing_line(timing: dict[str, Any]) -> str:
    """A stored timing as text: times, speedups with their interval, and a fresh-process re-measurement."""
    def ms(key: str) -> str:
        value = timing.get(key)
        return f"{value:.4g} ms" if isinstance(value, (int, float)) else "-"

    def ratio(key: str) -> str:
        value = timing.get(key)
        return f"{value:.2f}x" if isinstance(value, (int, float)) else "-"

    ci = ""
    if isinstance(timing.get("ci_low"), (int, float)) and isinstance(timing.get("ci_high"), (int, float)):
        ci = f" (95% CI {timing['ci_low']:.2f}-{timing['ci_high']:.2f})"
    line = (f"candidate {ms('candidate_ms')} · eager {ms('eager_ms')} · compiled {ms('compile_ms')}\n"
            f"speedup vs eager {ratio('speedup_eager')}{ci} · vs torch.compile {ratio('speedup_compile')}")
    measured = [v for v in timing.get("remeasured") or [] if isinstance(v, (int, float))]
    if measured:
        line += "\nre-measured in a fresh process: " + " then ".join(f"{v:.2f}x" for v in measured) + "; the lower stands"
    return line


def dropped_lines(report: CorrectnessReport) -> list[str]:
    """What the correctness run left out, and where its probes ran when that was not the first shape."""
    lines = []
    nonfinite = [d for d in report.dropped if d.get("kind", "nonfinite_reference") == "nonfinite_reference"]
    budget = [d for d in report.dropped if d.get("kind") == "file_budget"]
    if nonfinite:
        lines.append(f"dropped {len(nonfinite)} trial(s) where the reference itself is not finite")
    if budget:
        left = ", ".join(f"{d['shape']}/{d['distribution']}" for d in budget)
        lines.append(f"left out {len(budget)} trial(s) to keep the run's files within budget ({left}); "
                     f"determinism and caching probes at shape '{report.probe_shape}'")
    return lines
