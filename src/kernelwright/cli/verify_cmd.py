"""`kernelwright verify`, `kernelwright tasks check` and `kernelwright selftest`."""

from __future__ import annotations

import json
from contextlib import nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..store import Run, Store, StoreError, collect_environment
from ..tasks import TaskNotFound, TaskSourceError, find_task
from ..verify.flags import messages
from ..verify.kernelbench import KernelBenchTiming
from ..verify.models import VerificationResult
from ..verify.pipeline import VerifierError, VerifyOptions, verify
from ..verify.record import record_verification
from ..verify.timing import REMEASURE_ABOVE
from ..verify.sanitize import SanitizerReport
from .db_cmd import DbOption, db_path
from .progress_lines import PhaseStatus
from .render import console, dropped_lines, fail, print_table, require_device, timing_line

VERDICT_STYLE = {"PASS": "bold green", "INCORRECT": "bold red", "COMPILE_FAIL": "bold red", "RUNTIME_ERROR": "bold red",
                 "TIMEOUT": "bold red", "STATIC_REJECT": "bold red", "NONDETERMINISTIC": "bold yellow",
                 "SUSPECT": "bold yellow"}


class TimingProtocol(str, Enum):
    kernelwright = "kernelwright"
    kernelbench = "kernelbench"


JSON_TIMING_KEYS = ("speedup_eager", "speedup_compile", "ci_low", "ci_high", "candidate_ms", "eager_ms", "compile_ms",
                    "own_kernel_share")


def verify_command(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task file, or levelN/NAME or NAME under --tasks-dir.")],
    candidate: Annotated[Path, typer.Argument(help="Candidate source defining ModelNew.")],
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cuda",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_timing: Annotated[bool, typer.Option("--no-timing", help="Correctness only.")] = False,
    no_compile_baseline: Annotated[bool, typer.Option("--no-compile-baseline", help="Skip the torch.compile baseline.")] = False,
    tasks_dir: Annotated[list[Path], typer.Option("--tasks-dir", help="Where to look up task names.")] = [Path("tasks")],
    remeasure_above: Annotated[float, typer.Option(
        "--remeasure-above", min=0.0,
        help="A speedup over this many times eager is timed again in a fresh process; the lower stands.")] = REMEASURE_ABOVE,
    sanitize: Annotated[bool, typer.Option(
        "--sanitize", help="Also run compute-sanitizer (memcheck, racecheck, initcheck) at the smallest shape.")] = False,
    timing_protocol: Annotated[TimingProtocol, typer.Option(
        "--timing", help="kernelbench: also time by KernelBench's protocol (3 warm-up, 100 event-timed calls on fixed "
                         "inputs, mean) for numbers comparable to published ones; the verdict stays on ours.")] = TimingProtocol.kernelwright,
    allow_unconfined: Annotated[bool, typer.Option(
        "--allow-unconfined", help="Exit 0 for a candidate whose only fault is that it ran unconfined (no working "
                                   "bubblewrap); its verdict stays SUSPECT and it counts for nothing.")] = False,
    no_static_gate: Annotated[bool, typer.Option(
        "--no-static-gate", help="For testing the verifier only: the static gate's rejections are recorded but do not "
                                 "stop the candidate, to show the later phases hold on their own.")] = False,
    db: DbOption = None,
) -> None:
    """Verify one candidate: static gate, isolated build, correctness trials and probes, then timing."""
    require_device(device)
    try:
        loaded = find_task(task, tasks_dir)
    except (TaskNotFound, TaskSourceError) as exc:
        fail(escape(str(exc)))
    try:
        source = candidate.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read candidate {escape(str(candidate))}: {escape(str(exc))}")
    try:
        store = Store(db_path(ctx))
    except StoreError as exc:
        fail(escape(str(exc)))
    options = VerifyOptions(device=device, time_candidate=not no_timing, compile_baseline=not no_compile_baseline,  # type: ignore[arg-type]
                            remeasure_above=remeasure_above, sanitize=sanitize, timing_protocol=timing_protocol.value,
                            static_gate=not no_static_gate)
    with store:
        run = store.add(Run(kind="verify", config={"task": loaded.ref, "candidate": str(candidate), **options.model_dump()},
                            environment=collect_environment()))
        try:
            from ..agents.phases import phase_reporter
            from ..sandbox.context import ExecutionContext

            status = PhaseStatus(f"verifying {candidate.name} against {loaded.ref}", plain=not console.is_terminal)
            live = console.status(status) if not as_json and console.is_terminal else nullcontext()
            with live:
                on_phase = phase_reporter(status.enter) if not as_json else None
                result = verify(loaded, source, options, context=ExecutionContext().with_phase_listener(on_phase))
        except VerifierError as exc:
            store.finish_run(run.id, status="failed")
            fail(escape(str(exc)))
        except KeyboardInterrupt:
            store.finish_run(run.id, status="interrupted")
            raise typer.Exit(130)
        record_verification(store, run.id, loaded, source, result, backend=device)  # type: ignore[arg-type]
        store.finish_run(run.id)
    if as_json:
        typer.echo(json.dumps(json_summary(result, run.id), indent=2))
    else:
        render_result(result, run.id)
    raise typer.Exit(0 if result.passed or (allow_unconfined and result.reason == "unconfined") else 1)


def json_summary(result: VerificationResult, run_id: str) -> dict[str, Any]:
    timing = result.timing or {}
    payload: dict[str, Any] = {
        "verdict": result.verdict, "reason": result.reason, "summary": result.summary, "perf": result.perf,
        "flags": messages(result.flags), "task": result.task, "device": result.device, "seed": result.seed, "run_id": run_id,
    }
    payload.update({key: timing.get(key) for key in JSON_TIMING_KEYS})
    payload["evidence"] = result.model_dump(mode="json", exclude={"timing", "kernelbench"})
    payload["timing"] = timing or None
    payload["kernelbench"] = result.kernelbench
    return payload


def render_result(result: VerificationResult, run_id: str) -> None:
    style = VERDICT_STYLE.get(result.verdict, "bold")
    lines = [f"[{style}]{result.verdict}[/]" + (f" ({escape(result.reason)})" if result.reason else ""),
             escape(result.summary)]
    timing = result.timing or {}
    if timing:
        lines.append("")
        lines.append(timing_line(timing))
    if result.perf:
        lines.append(f"timing: {result.perf}")
    if result.kernelbench is not None:
        lines.append(escape(KernelBenchTiming.model_validate(result.kernelbench).line()))
    if result.sanitizer is not None:
        lines.append(escape(SanitizerReport.model_validate(result.sanitizer).line()))
    for flag in result.flags:
        lines.append(f"[yellow]flag[/] {escape(flag.message)}")
    report = result.correctness
    if report is not None and report.failures:
        lines.append("")
        for failure in report.failures[:5]:
            lines.append(f"[red]x[/] {escape(failure.line())}")
    if report is not None:
        lines += dropped_lines(report)
    lines.append("")
    lines.append(f"[dim]run {run_id} · seed {result.seed} · {result.device} · {result.wall_s:.1f} s[/]")
    console.print(Panel("\n".join(lines), title=escape(f"{result.task}"), title_align="left"))


def check_command(
    paths: Annotated[list[Path], typer.Argument(help="Task files or folders.")],
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Task admission: degeneracy filters and canary candidates (zeros, constant, input copy,
    uninitialised output, lower precision) that must all fail."""
    from rich.progress import Progress

    from ..tasks import load_tasks
    from ..verify.admission import admit

    require_device(device)
    loaded = load_tasks(paths)
    reports = []
    with Progress(console=console, transient=True, disable=as_json) as progress:
        bar = progress.add_task("Admitting tasks", total=len(loaded.tasks))
        for task in loaded.tasks:
            reports.append(admit(task, device=device))
            progress.advance(bar)
    if as_json:
        typer.echo(json.dumps({"reports": [r.model_dump() for r in reports],
                               "errors": [e.model_dump() for e in loaded.errors]}, indent=2))
    else:
        table = Table("task", "admitted", "shapes", "problems")
        for report in reports:
            table.add_row(escape(report.task), "[green]yes[/]" if report.admitted else "[red]no[/]",
                          ", ".join(report.shapes), escape("; ".join(report.problems)))
        print_table(table)
        for error in loaded.errors:
            console.print(f"[bold red]error:[/] {escape(error.line())}", highlight=False)
        admitted = sum(r.admitted for r in reports)
        console.print(f"{admitted} of {len(reports)} tasks admitted", highlight=False)
    if loaded.errors or not all(r.admitted for r in reports):
        raise typer.Exit(1)

