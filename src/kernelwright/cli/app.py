"""Top-level typer application and shared options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from .db_cmd import db_app
from .tasks_cmd import tasks_app
from .eval_cmd import eval_command
from .export_cmd import export_command
from .help_format import flags_without_placeholders
from .memory_cmd import memory_app
from .report_cmd import report_command
from .run_cmd import run_command
from .selftest_cmd import selftest_command
from .show_cmd import show_command
from .verify_cmd import check_command, verify_command

flags_without_placeholders()
app = typer.Typer(
    name="kernelwright",
    help="LLM agents that write fast, verified CUDA kernels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(tasks_app, name="tasks")
app.add_typer(db_app, name="db")
app.add_typer(memory_app, name="memory")
app.command("verify")(verify_command)
app.command("selftest")(selftest_command)
app.command("run")(run_command)
app.command("eval")(eval_command)
app.command("export")(export_command)
app.command("report")(report_command)
app.command("show")(show_command)
tasks_app.command("check")(check_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kernelwright {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        Optional[Path],
        typer.Option("--db", envvar="KERNELWRIGHT_DB", help="SQLite run store (default runs/kernelwright.db)."),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    ctx.obj = {"db": db}
