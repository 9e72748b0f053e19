"""`kernelwright eval`: a model over a task set, scored the way the field reports it, resumable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..store import Store
from ..tasks import TaskNotFound, TaskSourceError
from .db_cmd import DbOption
from .launch import execute, open_run, open_store
from .render import console, fail, print_table, require_device
from .search_options import SEARCH_SAMPLES, BeamOption, CoderCallsOption, StrategyOption, search_samples


SHOWN_TASKS = 40


def eval_command(
    ctx: typer.Context,
    taskset: Annotated[Optional[list[str]], typer.Argument(help="Task folders or files (a KernelBench tree works).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="provider/model, scripted/FILE or replay/RUN_ID.")] = None,
    judge_model: Annotated[Optional[str], typer.Option("--judge-model", help="A different model for the Judge.")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="An OpenAI- or Anthropic-compatible server.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Coder rounds per sample; 1 is the one-shot setting.")] = 1,
    samples: Annotated[Optional[int], typer.Option("--samples", min=1, help=(
        "Samples per task: independent ones with chain (pass@k, default 1), parallel expansions per round with beam "
        f"and evolve (default {SEARCH_SAMPLES})."))] = None,
    strategy: StrategyOption = "chain",
    beam: BeamOption = 2,
    budget_coder_calls: CoderCallsOption = None,
    levels: Annotated[Optional[str], typer.Option("--levels", help="Only these levels, e.g. 1,2.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cuda",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Samples in flight at once (tasks, with beam and evolve).")] = 4,
    cpu_workers: Annotated[int, typer.Option("--cpu-workers", min=1, help="Compilations in flight at once.")] = 2,
    llm_concurrency: Annotated[int, typer.Option("--llm-concurrency", min=1, help="Model calls in flight at once.")] = 8,
    executor: Annotated[str, typer.Option("--executor", help="local, or ray (pip install 'kernelwright\\[ray]').")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="A running Ray cluster (default: a local one).")] = None,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", help="Stop the evaluation at this spend.")] = None,
    no_profile: Annotated[bool, typer.Option("--no-profile", help="Skip profiling passing candidates.")] = False,
    no_sanitize: Annotated[bool, typer.Option(
        "--no-sanitize", help="Skip compute-sanitizer on each sample's best candidate (CUDA).")] = False,
    no_compile_baseline: Annotated[bool, typer.Option("--no-compile-baseline", help="Skip the torch.compile baseline.")] = False,
    no_memory: Annotated[bool, typer.Option(
        "--no-memory", help="Show the seed prompt no past winners of similar tasks from the kernel memory.")] = False,
    memory_same_task: Annotated[bool, typer.Option(
        "--memory-same-task", help="Let the memory show winners of this run's own tasks (numbers then not clean).")] = False,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue a stored evaluation.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    tasks_dir: Annotated[list[Path], typer.Option("--tasks-dir", help="Where to look up task names.")] = [Path("tasks")],
    db: DbOption = None,
) -> None:
    """Evaluate a model on a task set: correctness, fast_p and geomean speedups vs eager and torch.compile, cost."""
    from ..agents.budget import BudgetLimits
    from ..agents.loop import LoopConfig
    from ..agents.runner import RunConfig
    from ..agents.session import resolve_tasks
    from .eval_progress import EvalProgress

    if executor not in ("local", "ray"):
        fail(f"unknown --executor {escape(executor)!r}: use local or ray")
    config = None
    if resume is None:
        if not taskset or not model:
            fail("give a task set and --model (or --resume RUN_ID)")
        require_device(device)
        try:
            wanted = [int(level) for level in levels.split(",")] if levels else None
        except ValueError:
            fail(f"--levels takes numbers separated by commas, not {escape(levels or '')!r}")
        try:
            paths = resolve_tasks(taskset, tasks_dir, wanted)
        except (TaskNotFound, TaskSourceError) as exc:
            fail(escape(str(exc)))
        if not paths:
            fail("the task set holds no task (check the path and --levels)")
        config = RunConfig(tasks=paths, model=model, judge_model=judge_model, base_url=base_url, device=device,
                           loop=LoopConfig(rounds=rounds),
                           budget=BudgetLimits(max_usd=budget_usd, max_coder_calls=budget_coder_calls),
                           compile_baseline=not no_compile_baseline, profile=not no_profile, sanitize=not no_sanitize,
                           samples=search_samples(strategy, samples), strategy=strategy, beam=beam,  # type: ignore[arg-type]
                           workers=workers, cpu_workers=cpu_workers, llm_concurrency=llm_concurrency,
                           executor=executor, ray_address=ray_address, memory=not no_memory,  # type: ignore[arg-type]
                           memory_same_task=memory_same_task)
    with open_store(ctx) as store:
        runner, loaded = open_run(store, config, resume=resume, kind="eval",
                                  budget_overrides={"max_usd": budget_usd, "max_coder_calls": budget_coder_calls} if resume else None)
        progress = EvalProgress(len(loaded) * runner.config.samples, runner.budget.spent, enabled=not as_json,
                                samples=runner.config.samples)
        runner.on_step, runner.on_phase = progress.on_step, progress.on_phase
        runner.on_sample = lambda outcome: progress.sample_done(outcome.task, outcome.sample,
                                                                outcome.best_verdict == "PASS")
        execute(runner, loaded, progress, "eval")
        summary = eval_summary(store, runner.run.id, runner.executor.stats())
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        render_summary(summary)


def eval_summary(store: Store, run_id: str, stats: Any) -> dict[str, Any]:
    from ..report.metrics import compute_metrics
    from ..report.metrics_json import json_metrics, json_task
    from ..report.records import load_records

    records = load_records(store, run_id)
    metrics = compute_metrics(records)
    return {"run_id": run_id, "metrics": json_metrics(metrics), "tasks": [json_task(r) for r in records],
            "executor": {"wall_s": round(stats.wall_s, 3), "device_busy_share": round(stats.busy_share, 4),
                         "builds": stats.builds, "verifications": stats.verifications}}


def render_summary(summary: dict[str, Any]) -> None:
    m = summary["metrics"]

    def pct(value: Any) -> str:
        return f"{value:.0%}" if isinstance(value, (int, float)) else "-"

    def times(value: Any) -> str:
        return f"{value:.2f}x" if isinstance(value, (int, float)) else "-"

    console.print(f"[bold]evaluation {summary['run_id']}[/] · {m.get('tasks')} tasks x {m.get('samples_per_task')} "
                  f"sample(s) · compile rate {pct(m.get('compile_rate'))} · correct {pct(m.get('correct_rate'))}"
                  + "".join(f" · pass@{k} {pct(v)}" for k, v in (m.get("pass_at_k") or {}).items()), highlight=False,
                  soft_wrap=not console.is_terminal)
    table = Table(title_justify="left")
    for column in ("", "vs eager", "vs torch.compile"):
        table.add_column(column, justify="right" if column else "left")
    for p in ("0", "1", "1.2", "1.5", "2"):
        table.add_row(f"fast_{p}", pct(m.get(f"fast_{p}_eager")), pct(m.get(f"fast_{p}_compile")))
    table.add_row("geomean over correct", times(m.get("geomean_speedup_eager")), times(m.get("geomean_speedup_compile")))
    table.add_row("geomean over all (failure = 1.0)", times(m.get("geomean_speedup_eager_all")),
                  times(m.get("geomean_speedup_compile_all")))
    table.add_row("median / mean over correct", f"{times(m.get('median_speedup_eager'))} / {times(m.get('mean_speedup_eager'))}",
                  f"{times(m.get('median_speedup_compile'))} / {times(m.get('mean_speedup_compile'))}")
    print_table(table)
    tasks = Table(title_justify="left")
    for column in ("task", "sample", "verdict", "x eager (95% CI)", "x compile", "rounds", "cost"):
        tasks.add_column(column)
    for t in summary["tasks"][:SHOWN_TASKS]:
        interval = (f" ({t['ci_low']:.2f}-{t['ci_high']:.2f})"
                    if isinstance(t.get("ci_low"), (int, float)) and isinstance(t.get("ci_high"), (int, float)) else "")
        tasks.add_row(escape(t["task"]), str(t.get("sample", 0)), t["best_verdict"],
                      times(t.get("best_speedup_eager")) + interval, times(t.get("best_speedup_compile")),
                      str(t.get("rounds")), f"${t.get('cost_usd') or 0:.4f}")
    print_table(tasks)
    if len(summary["tasks"]) > SHOWN_TASKS:
        console.print(f"... {len(summary['tasks']) - SHOWN_TASKS} more samples in the report or with --json")
    per_solved = m.get("cost_per_solved_task")
    executor = summary["executor"]
    console.print(f"{m.get('input_tokens')}/{m.get('output_tokens')} tokens · ${m.get('cost_usd') or 0:.4f} "
                  f"(${m.get('cost_per_task') or 0:.4f} per task, "
                  + (f"${per_solved:.4f} per solved task" if isinstance(per_solved, (int, float)) else "no task solved")
                  + f") · device busy {executor['device_busy_share']:.0%} of {executor['wall_s']:.0f} s", highlight=False,
                  soft_wrap=not console.is_terminal)
    console.print(f"[dim]report: kernelwright report {summary['run_id']} --html report.html[/]", soft_wrap=True)
