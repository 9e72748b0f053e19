"""`kernelwright selftest`: the adversarial suite, with its catch rate and false positives."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from .render import console, fail, print_table, require_device


def selftest_command(
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    case: Annotated[list[str], typer.Option("--case", help="Run only these cases (file names or stems).")] = [],
) -> None:
    """Run every exploit and honest control of the adversarial suite through the verifier."""
    from ..selftest import SelftestError, cases_for, run_selftest

    require_device(device)
    try:
        total = len(cases_for(device, names=case or None))
        with Progress(console=console, transient=True, disable=as_json) as progress:
            bar = progress.add_task(f"Adversarial suite ({device})", total=total)
            report = run_selftest(device, cases=case or None, progress=lambda *_: progress.advance(bar))
    except SelftestError as exc:
        fail(escape(str(exc)))
    if as_json:
        typer.echo(report.model_dump_json(indent=2, by_alias=True))
    else:
        table = Table("case", "class", "expected", "got", "without the gate", "speedup", "", "s")
        for result in report.cases:
            mark = "[green]ok[/]" if result.caught else ("[yellow]known gap[/]" if result.known_gap else "[red]MISSED[/]")
            table.add_row(escape(result.file), escape(result.klass), ", ".join(result.expected), result.got,
                          result.without_gate or "", _speedups(result.speedup, result.speedup_without_gate), mark,
                          f"{result.seconds:.1f}")
        print_table(table)
        console.print(f"caught {report.caught} of {report.exploits} exploits ({report.catch_rate:.0%}); "
                      f"false positives: {len(report.false_positives)}"
                      + (f" ({', '.join(report.false_positives)})" if report.false_positives else ""), highlight=False)
    if report.unexpected:
        raise typer.Exit(1)


def _speedups(*values: float | None) -> str:
    return " / ".join(f"{v:.2f}x" for v in values if v is not None)
