"""The Jinja environment of the report templates, with the number formatters as filters."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .format import fmt_ci, fmt_int, fmt_ms, fmt_pct, fmt_s, fmt_usd, fmt_x

TEMPLATES = Path(__file__).parent / "templates"


def diff_class(line: str) -> str:
    """The CSS class of one unified-diff line."""
    if line.startswith(("+++", "---")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"


def md_cell(value: object) -> str:
    """Text safe inside a GitHub-flavoured Markdown table cell."""
    return " ".join(str(value).split()).replace("|", "\\|")


@functools.cache
def environment(autoescape: bool) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(pct=fmt_pct, x=fmt_x, usd=fmt_usd, seconds=fmt_s, ms=fmt_ms, count=fmt_int, ci=fmt_ci,
                       diff_class=diff_class, md=md_cell)
    return env
