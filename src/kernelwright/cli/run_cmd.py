"""`kernelwright run`: the Coder / Judge loop over one or more tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..tasks import TaskNotFound, TaskSourceError
from .db_cmd import DbOption
from .launch import execute, open_run, open_store
from .render import console, fail, print_table, require_device
from .search_options import SEARCH_SAMPLES, BeamOption, CoderCallsOption, StrategyOption, search_samples

if TYPE_CHECKING:
    from ..agents.runner import TaskOutcome

JSON_TASK_KEYS = ("task", "best_verdict", "best_speedup_eager", "best_speedup_compile", "rounds", "llm_calls",
                  "input_tokens", "output_tokens", "cost_usd")


def run_command(
    ctx: typer.Context,
    tasks: Annotated[Optional[list[str]], typer.Argument(help="Task files, folders, levelN/NAME or NAME.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="provider/model: openai/..., anthropic/..., scripted/FILE, replay/RUN_ID.")] = None,
    judge_model: Annotated[Optional[str], typer.Option("--judge-model", help="A different model for the Judge.")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="An OpenAI- or Anthropic-compatible server.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Coder rounds per task, the seed included.")] = 5,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", help="Stop the run at this spend.")] = None,
    budget_tokens: Annotated[Optional[int], typer.Option("--budget-tokens", help="Stop the run at this many tokens.")] = None,
    budget_minutes: Annotated[Optional[float], typer.Option("--budget-minutes", help="Stop the run after this wall time.")] = None,
    budget_coder_calls: CoderCallsOption = None,
    strategy: StrategyOption = "chain",
    beam: BeamOption = 2,
    samples: Annotated[Optional[int], typer.Option("--samples", min=1, help=(
        f"Samples per task searched together with beam and evolve (default {SEARCH_SAMPLES}); 1 with chain."))] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cuda",
    refine_from: Annotated[str, typer.Option("--refine-from", help="best or latest candidate.")] = "best",
    no_profile: Annotated[bool, typer.Option("--no-profile", help="Skip profiling passing candidates.")] = False,
    no_sanitize: Annotated[bool, typer.Option(
        "--no-sanitize", help="Skip compute-sanitizer on each sample's best candidate (CUDA).")] = False,
    no_compile_baseline: Annotated[bool, typer.Option("--no-compile-baseline", help="Skip the torch.compile baseline.")] = False,
    no_memory: Annotated[bool, typer.Option(
        "--no-memory", help="Show the seed prompt no past winners of similar tasks from the kernel memory.")] = False,
    memory_same_task: Annotated[bool, typer.Option(
        "--memory-same-task", help="Let the memory show winners of this run's own tasks (numbers then not clean).")] = False,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue a stored run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tasks_dir: Annotated[list[Path], typer.Option("--tasks-dir", help="Where to look up task names.")] = [Path("tasks")],
    db: DbOption = None,
) -> None:
    """Run the Coder / Judge loop on tasks; every step is stored, and --resume continues an interrupted run."""
    if refine_from not in ("best", "latest"):
        fail(f"unknown --refine-from {escape(refine_from)!r}: use best or latest")
    # the agents and the LLM SDKs load only for this command
    from ..agents.budget import BudgetLimits
    from ..agents.loop import LoopConfig
    from ..agents.runner import RunConfig
    from ..agents.session import resolve_tasks
    from .run_progress import RunProgress

    budget = {"max_usd": budget_usd, "max_tokens": budget_tokens, "max_coder_calls": budget_coder_calls,
              "max_wall_s": budget_minutes * 60 if budget_minutes is not None else None}
    config = None
    if resume is None:
        if not tasks or not model:
            fail("give one or more tasks and --model (or --resume RUN_ID)")
        require_device(device)
        try:
            paths = resolve_tasks(tasks, tasks_dir)
        except (TaskNotFound, TaskSourceError) as exc:
            fail(escape(str(exc)))
        config = RunConfig(tasks=paths, model=model, judge_model=judge_model, base_url=base_url, device=device,
                           loop=LoopConfig(rounds=rounds, refine_from=refine_from),  # type: ignore[arg-type]
                           budget=BudgetLimits(**budget), compile_baseline=not no_compile_baseline,
                           profile=not no_profile, sanitize=not no_sanitize, memory=not no_memory,
                           memory_same_task=memory_same_task, strategy=strategy, beam=beam,  # type: ignore[arg-type]
                           samples=search_samples(strategy, samples))
    with open_store(ctx) as store:
        runner, loaded = open_run(store, config, resume=resume, kind="agent", budget_overrides=budget)
        progress = RunProgress([t.ref for t in loaded], runner.budget.spent, enabled=not as_json)
        runner.on_step, runner.on_phase = progress.on_step, progress.on_phase
        outcomes = execute(runner, loaded, progress, "run")
    if as_json:
        typer.echo(json.dumps(json_summary(runner.run.id, outcomes), indent=2))
    else:
        render_outcomes(runner.run.id, outcomes)


def json_summary(run_id: str, outcomes: list[TaskOutcome]) -> dict[str, Any]:
    return {"run_id": run_id, "tasks": [{key: getattr(o, key) for key in JSON_TASK_KEYS} | {
        "ci_low": o.ci_low, "ci_high": o.ci_high, "stop_reason": o.stop_reason, "error": o.error} for o in outcomes]}


def render_outcomes(run_id: str, outcomes: list[TaskOutcome]) -> None:
    table = Table(title=f"run {run_id}", title_justify="left")
    for column in ("task", "verdict", "×eager (95% CI)", "×compile", "rounds", "stop", "tokens in/out", "cost"):
        table.add_column(column)
    for o in outcomes:
        eager = (f"{o.best_speedup_eager:.2f}x" + (f" ({o.ci_low:.2f}-{o.ci_high:.2f})" if o.ci_low and o.ci_high else "")
                 if o.best_speedup_eager is not None else "-")
        compiled = f"{o.best_speedup_compile:.2f}x" if o.best_speedup_compile is not None else "-"
        table.add_row(escape(o.task), o.best_verdict if not o.error else f"error: {escape(o.error)}", eager, compiled,
                      str(o.rounds), o.stop_reason or "-", f"{o.input_tokens}/{o.output_tokens}", f"${o.cost_usd:.4f}")
    print_table(table)
    console.print(f"[dim]trajectory: kernelwright show {run_id}[/]", soft_wrap=True)
