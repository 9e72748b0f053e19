"""How report numbers are written: one formatter per kind of quantity, shared by HTML and Markdown."""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["int", "pct", "x", "usd", "s"]
MISSING = "–"


def fmt_int(value: float | None) -> str:
    return MISSING if value is None else f"{round(value):,}"


def fmt_pct(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}%"


def fmt_x(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}×"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"


def fmt_s(value: float | None) -> str:
    if value is None:
        return MISSING
    if abs(value) < 120:
        return f"{value:.1f} s"
    if abs(value) < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def fmt_ms(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4g} ms"


def fmt_ci(value: float | None, low: float | None, high: float | None) -> str:
    """A speedup with its confidence interval: `1.23× [1.10, 1.35]`."""
    if value is None:
        return MISSING
    if low is None or high is None:
        return fmt_x(value)
    return f"{fmt_x(value)} [{low:.2f}, {high:.2f}]"


FORMATTERS = {"int": fmt_int, "pct": fmt_pct, "x": fmt_x, "usd": fmt_usd, "s": fmt_s}


def fmt(value: float | None, kind: Kind) -> str:
    return FORMATTERS[kind](value)


def fmt_delta(before: float | None, after: float | None, kind: Kind) -> str:
    """`after - before` in the quantity's unit (rates in percentage points)."""
    if before is None or after is None:
        return MISSING
    delta = after - before
    sign = "+" if delta >= 0 else "−"
    size = abs(delta)
    if kind == "pct":
        return f"{sign}{100 * size:.1f} pp"
    if kind == "int":
        return f"{sign}{round(size):,}"
    return f"{sign}{fmt(size, kind)}"


def judge_model(config: dict[str, Any]) -> str | None:
    """The model that judged a run: its --judge-model, else the Coder's model (the report and the export agree)."""
    return config.get("judge_model") or config.get("model")
