"""`kernelwright db info|init`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..store import Store, StoreError, default_db_path
from .render import console, fail

db_app = typer.Typer(help="Inspect or create the SQLite run store.", no_args_is_help=True)


def db_path(ctx: typer.Context) -> Path:
    chosen = (ctx.find_root().obj or {}).get("db")
    return Path(chosen) if chosen else default_db_path()


@db_app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the database (or migrate an older one) and print its schema version."""
    path = db_path(ctx)
    try:
        with Store(path) as store:
            version = store.schema_version
    except StoreError as exc:
        fail(escape(str(exc)))
    console.print(f"{escape(str(path))}: schema version {version}", highlight=False)


@db_app.command("info")
def info(ctx: typer.Context) -> None:
    """Schema version, rows per table and the latest runs, read without writing anything."""
    path = db_path(ctx)
    try:
        with Store(path, readonly=True) as store:
            version, counts, runs = store.schema_version, store.counts(), store.runs()
    except StoreError as exc:
        fail(escape(str(exc)))
    console.print(f"{escape(str(path))}: schema version {version}", highlight=False)
    table = Table("table", "rows")
    for name, count in counts.items():
        table.add_row(name, str(count))
    console.print(table)
    if runs:
        recent = Table("run", "kind", "status", "created", title="latest runs", title_justify="left")
        for run in runs[-10:]:
            recent.add_row(run.id, run.kind, run.status, run.created_at)
        console.print(recent)
