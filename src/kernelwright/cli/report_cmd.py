"""`kernelwright report RUN [--html FILE] [--md FILE] [--compare RUN2]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..store import Store, StoreError
from .db_cmd import DbOption, db_path
from .render import console, fail


def report_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="An eval or agent run.")],
    html: Annotated[Optional[Path], typer.Option("--html", help="Write one self-contained HTML file.")] = None,
    md: Annotated[Optional[Path], typer.Option("--md", help="Write Markdown tables (for papers and PRs).")] = None,
    compare: Annotated[Optional[str], typer.Option("--compare", help="A second run, side by side.")] = None,
    db: DbOption = None,
) -> None:
    """Metrics, plots, failure taxonomy and every task's trajectory; with neither file option, Markdown to stdout."""
    from ..report.context import build_context
    from ..report.html import render_html
    from ..report.markdown import render_markdown

    try:
        with Store(db_path(ctx), readonly=True) as store:
            context = build_context(store, run_id, compare)
    except StoreError as exc:
        fail(escape(str(exc)))
    if html is None and md is None:
        typer.echo(render_markdown(context))
        return
    for path, render in ((html, render_html), (md, render_markdown)):
        if path is None:
            continue
        try:
            path.write_text(render(context), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {escape(str(path))}: {escape(str(exc))}")
        console.print(f"wrote {escape(str(path))}", highlight=False)
