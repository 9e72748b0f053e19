"""`kernelwright db info|init`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..store import Store, StoreError, default_db_path
from ..store.guard import check_integrity, probe
from .render import console, fail, print_table

db_app = typer.Typer(help="Inspect or create the SQLite run store.", no_args_is_help=True)


# Every command that reads or writes the store takes --db itself too (`kernelwright run ... --db x.db`); it wins over
# the global --db and KERNELWRIGHT_DB.
DbOption = Annotated[Optional[Path], typer.Option("--db", help="SQLite run store (default: the global --db, "
                                                                "KERNELWRIGHT_DB, or runs/kernelwright.db).")]


def db_path(ctx: typer.Context) -> Path:
    chosen = ctx.params.get("db") or (ctx.find_root().obj or {}).get("db")
    return Path(chosen) if chosen else default_db_path()


@db_app.command("init")
def init(ctx: typer.Context, db: DbOption = None) -> None:
    """Create the database (or migrate an older one) and print its schema version."""
    path = db_path(ctx)
    try:
        probe(path)  # a foreign or corrupt file is reported as such before the page check
        check_integrity(path)  # damaged pages too, as `db info` finds them, before anything is written
        with Store(path) as store:
            version = store.schema_version
    except StoreError as exc:
        fail(escape(str(exc)))
    console.print(f"{escape(str(path))}: schema version {version}", highlight=False)


@db_app.command("info")
def info(ctx: typer.Context, db: DbOption = None) -> None:
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
    print_table(table)
    if runs:
        recent = Table("run", "kind", "status", "created", title="latest runs", title_justify="left")
        for run in runs[-10:]:
            recent.add_row(run.id, run.kind, run.status, run.created_at)
        print_table(recent)
