"""`kernelwright memory list|show|prune`: the kernel memory, past verified winners shown to seed prompts."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from ..store import MemoryEntry, Store, StoreError
from .db_cmd import DbOption, db_path
from .render import console, fail

memory_app = typer.Typer(help="Inspect or prune the kernel memory (verified winners shown to seed prompts).",
                         no_args_is_help=True)


@memory_app.command("list")
def list_entries(ctx: typer.Context,
                 task: Annotated[Optional[str], typer.Option("--task", help="Only this task (levelN/name).")] = None,
                 backend: Annotated[Optional[str], typer.Option("--backend", help="cpu or cuda.")] = None,
                 db: DbOption = None) -> None:
    """Every entry: the task, its operators, the speedup with its interval, where it was measured."""
    entries = [e for e in _read(ctx, backend) if task is None or e.task == task]
    table = Table("id", "task", "backend", "device", "speedup", "95% CI", "operators", "run")
    for entry in sorted(entries, key=lambda e: (e.task, -e.speedup_eager)):
        interval = f"{entry.ci_low:.2f}-{entry.ci_high:.2f}" if entry.ci_low and entry.ci_high else "-"
        table.add_row(entry.id, entry.task, entry.backend, entry.device or "-", f"{entry.speedup_eager:.2f}x",
                      interval, ", ".join(entry.signature.get("ops") or []), entry.run_id)
    console.print(table)
    console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", highlight=False)


@memory_app.command("show")
def show(ctx: typer.Context, entry_id: Annotated[str, typer.Argument(help="An entry's id (memory list).")],
         db: DbOption = None) -> None:
    """One entry with its kernel."""
    entry = next((e for e in _read(ctx, None) if e.id == entry_id), None)
    if entry is None:
        fail(f"no memory entry {escape(entry_id)}; `kernelwright memory list` lists them")
    console.print(f"{escape(entry.task)}: {entry.speedup_eager:.2f}x over eager on {escape(entry.device or '?')} "
                  f"(run {entry.run_id}, candidate {entry.candidate_id}); operators: "
                  f"{escape(', '.join(entry.signature.get('ops') or []))}", highlight=False)
    console.print(Syntax(entry.source, "python", word_wrap=True))


@memory_app.command("prune")
def prune(ctx: typer.Context,
          below: Annotated[float, typer.Option("--below", help="Drop entries slower than this speedup.")] = 1.0,
          keep: Annotated[int, typer.Option("--keep", help="Keep at most this many of each task and backend.")] = 3,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go, delete nothing.")] = False,
          db: DbOption = None) -> None:
    """Drop entries that teach little: slower than --below, or beyond the --keep fastest of their task."""
    gone = [e.id for e in prunable(_read(ctx, None), below, keep)]
    if not dry_run and gone:
        try:
            with Store(db_path(ctx)) as store:
                store.forget(gone)
        except StoreError as exc:
            fail(escape(str(exc)))
    console.print(f"{'would drop' if dry_run else 'dropped'} {len(gone)} entr{'y' if len(gone) == 1 else 'ies'}",
                  highlight=False)


def prunable(entries: list[MemoryEntry], below: float, keep: int) -> list[MemoryEntry]:
    """Entries under `below`, and those past the `keep` fastest of their (task, backend)."""
    groups: dict[tuple[str, str], list[MemoryEntry]] = defaultdict(list)
    for entry in entries:
        groups[(entry.task_hash, entry.backend)].append(entry)
    gone = []
    for group in groups.values():
        ranked = sorted(group, key=lambda e: (-e.speedup_eager, e.created_at))
        gone += [e for i, e in enumerate(ranked) if e.speedup_eager < below or i >= keep]
    return gone


def _read(ctx: typer.Context, backend: str | None) -> list[MemoryEntry]:
    try:
        with Store(db_path(ctx), readonly=True) as store:
            return store.memory(backend=backend)
    except StoreError as exc:
        fail(escape(str(exc)))
