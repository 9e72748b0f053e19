"""`kernelwright tasks list|show`."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from ..tasks import Task, TaskNotFound, TaskSourceError, find_task, load_tasks, task_variants
from .render import console, fail, human_bytes, human_count, print_table, warn_line

tasks_app = typer.Typer(help="List and inspect KernelBench-format tasks.", no_args_is_help=True)

DEFAULT_TASKS_DIR = Path("tasks")


@tasks_app.command("list")
def list_tasks(
    paths: Annotated[list[Path], typer.Argument(help="Task files, folders, or trees of levelN folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: {tasks: [...], errors: [...]}.")] = False,
) -> None:
    """List tasks with level, dtype, input shapes, parameter count and content hash."""
    with console.status("Loading tasks...", spinner="dots") if not as_json else nullcontext():
        result = load_tasks(paths)
    if as_json:
        payload = {
            "tasks": [_task_row(task) for task in result.tasks],
            "errors": [error.model_dump() for error in result.errors],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_table(result.tasks)
        for error in result.errors:
            warn_line(escape(error.line()))
        console.print(f"{len(result.tasks)} tasks, {len(result.errors)} errors", highlight=False)
    if result.errors:
        raise typer.Exit(1)


@tasks_app.command("show")
def show_task(
    task: Annotated[str, typer.Argument(help="A task file, or levelN/NAME or NAME under --tasks-dir.")],
    tasks_dir: Annotated[list[Path], typer.Option("--tasks-dir", help="Where to look up task names.")] = [DEFAULT_TASKS_DIR],
    as_json: Annotated[bool, typer.Option("--json", help="Print the task, specs and variants as JSON.")] = False,
) -> None:
    """Show one task: its source, declarations, input specs and shape variants."""
    try:
        loaded = find_task(task, tasks_dir)
    except (TaskNotFound, TaskSourceError) as exc:
        fail(escape(str(exc)))
    report = task_variants(loaded)
    if as_json:
        typer.echo(json.dumps({"task": loaded.model_dump(), "variants": report.model_dump()}, indent=2))
        return
    console.rule(f"[bold]{escape(loaded.ref)}[/]  {loaded.short_hash}")
    if loaded.docstring:
        console.print(escape(loaded.docstring))
    console.print(f"path: {escape(loaded.path)}", highlight=False)
    console.print(Syntax(loaded.source, "python", line_numbers=True, word_wrap=True))
    declared = loaded.declarations.model_dump(exclude={"variants"}, exclude_defaults=True)
    console.print(f"declarations: {declared or 'defaults'} (dtype {loaded.declarations.dtype})", highlight=False)
    console.print(f"constants: {loaded.constants}", highlight=False)
    if loaded.specs_note:
        console.print(f"[yellow]specs unavailable:[/] {escape(loaded.specs_note)}")
    table = Table(title="shapes", title_justify="left")
    for column in ("variant", "origin", "overrides", "inputs", "outputs", "params", "input bytes"):
        table.add_column(column)
    if loaded.specs is not None:
        table.add_row("nominal", "task", "-", _shapes(loaded.specs.inputs), "", human_count(loaded.specs.param_count),
                      human_bytes(loaded.specs.input_bytes()))
    for variant in report.variants + report.dropped:
        specs = variant.specs
        origin = variant.origin if variant in report.variants else f"{variant.origin}, dropped"
        table.add_row(
            variant.name, origin, ", ".join(f"{k}={v}" for k, v in variant.overrides.items()),
            _shapes(specs.inputs) if specs else escape(variant.note or ""),
            _shapes(specs.outputs or []) if specs else "",
            human_count(specs.param_count) if specs else "", human_bytes(specs.input_bytes()) if specs else "",
        )
    print_table(table)


def _task_row(task: Task) -> dict:
    specs = task.specs
    return {
        "name": task.name,
        "level": task.level,
        "path": task.path,
        "hash": task.hash,
        "description": task.docstring,
        "dtype": task.declarations.dtype,
        "inputs": [spec.model_dump(exclude_none=True) for spec in specs.inputs] if specs else None,
        "param_count": specs.param_count if specs else None,
        "variants": sorted(task.declarations.variants),
        "specs_note": task.specs_note,
    }


def _print_table(tasks: list[Task]) -> None:
    table = Table(show_lines=False)
    for column, justify in (("level", "right"), ("name", "left"), ("dtype", "left"), ("inputs", "left"),
                            ("params", "right"), ("hash", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for task in tasks:
        inputs = _shapes(task.specs.inputs) if task.specs else f"[yellow]{escape(task.specs_note or '')}[/]"
        table.add_row(
            str(task.level) if task.level is not None else "-", escape(task.name), task.declarations.dtype, inputs,
            human_count(task.specs.param_count) if task.specs else "?", task.short_hash,
        )
    print_table(table)


def _shapes(specs: list) -> str:
    return escape(", ".join(spec.describe() for spec in specs))

