"""`kernelwright show RUN [TASK]`: a run's trajectory, round by round."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from ..report.trajectory import RoundView, RunView, TaskView, load_run
from ..report.tree import TreeNode
from ..store import Run, Store, StoreError
from .db_cmd import DbOption, db_path
from .render import console, fail, print_table, timing_line

DIFF_LINES = 60
SHOWN_RUNS = 20


def show_command(
    ctx: typer.Context,
    run_id: Annotated[Optional[str], typer.Argument(help="A run id; without one, the latest runs are listed.")] = None,
    task: Annotated[Optional[str], typer.Argument(help="One task of the run (name or levelN/NAME).")] = None,
    round_index: Annotated[Optional[int], typer.Option("--round", help="Only this round.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Whole diffs and logs, not their first lines.")] = False,
    tree: Annotated[bool, typer.Option("--tree", help="Each task's search tree (every candidate of every sample "
                                                      "under its parent) instead of the rounds.")] = False,
    db: DbOption = None,
) -> None:
    """Each round: the diff from its parent, the build, the verdict and evidence, timings, profile, advice, cost.

    With --tree, each task's candidates as a tree instead: sample, round, hint, verdict and speedup per node."""
    try:
        with Store(db_path(ctx), readonly=True) as store:
            if run_id is None:
                render_runs(store.runs(), as_json)
                return
            view = load_run(store, run_id, task)
    except StoreError as exc:
        fail(escape(str(exc)))
    if round_index is not None:
        held = sorted({r.round for t in view.tasks for r in t.rounds if not r.final})
        if round_index not in held:
            fail(f"run {escape(run_id)} has no round {round_index}"
                 + (f" (rounds {held[0]}-{held[-1]})" if held else " (it has no rounds yet)"))
        for task_view in view.tasks:
            task_view.rounds = [r for r in task_view.rounds if r.round == round_index]
    if tree:
        if as_json:
            typer.echo(json.dumps({"run": run_id, "tasks": [{"task": t.task, "tree": [n.model_dump(mode="json")
                                                                                    for n in t.tree]}
                                                           for t in view.tasks]}, indent=2))
        else:
            render_trees(view)
        return
    if as_json:
        typer.echo(json.dumps(view.model_dump(mode="json"), indent=2))
        return
    render_run(view, full)


def render_runs(runs: list[Run], as_json: bool) -> None:
    """The latest runs, newest last, for `kernelwright show` without a run id."""
    latest = runs[-SHOWN_RUNS:]
    if as_json:
        typer.echo(json.dumps([{"id": r.id, "kind": r.kind, "status": r.status, "created_at": r.created_at,
                                "model": r.config.get("model"), "tasks": len(r.config.get("tasks") or [])}
                               for r in latest], indent=2))
        return
    if not latest:
        console.print("no runs yet: kernelwright run TASK --model MODEL starts one", highlight=False)
        return
    table = Table("run", "kind", "status", "model", "tasks", "created", title="latest runs", title_justify="left")
    for r in latest:
        table.add_row(r.id, r.kind, r.status, escape(str(r.config.get("model") or r.config.get("task") or "-")),
                      str(len(r.config.get("tasks") or [])) if r.config.get("tasks") else "-", r.created_at[:19])
    print_table(table)
    console.print("[dim]one run: kernelwright show RUN_ID[/]", soft_wrap=True)


def render_run(view: RunView, full: bool) -> None:
    run = view.run
    config = run.config
    console.print(f"[bold]run {run.id}[/] · {run.status} · {escape(str(config.get('model', run.kind)))}"
                  + (f" (judge {escape(config['judge_model'])})" if config.get("judge_model") else "")
                  + f" · {escape(str(config.get('device', '')))} · started {run.created_at[:19]}", highlight=False)
    for task in view.tasks:
        render_task(task, full)


def render_trees(view: RunView) -> None:
    """Each task's search tree; the best candidate in bold."""
    for task in view.tasks:
        root = Tree(f"[bold]{escape(task.task)}[/]", guide_style="dim")
        for node in task.tree:
            _add_node(root, node)
        if not task.tree:
            root.add("[dim]no candidates[/]")
        console.print(root, highlight=False)


def _add_node(parent: Tree, node: TreeNode) -> None:
    style = {"PASS": "green"}.get(node.verdict or "", "red" if node.verdict else "dim")
    label = f"[{style}]{escape(node.label())}[/]"
    branch = parent.add(f"[bold]{label}[/]" if node.best else label)
    for child in node.children:
        _add_node(branch, child)


def render_task(task: TaskView, full: bool) -> None:
    console.rule(f"[bold]{escape(task.task)}")
    for round_view in task.rounds:
        console.print(Panel(_round_body(round_view, full), title=_round_title(round_view), title_align="left"))
    if task.outcome:
        o = task.outcome
        speed = f"{o['best_speedup_eager']:.2f}x eager" if o.get("best_speedup_eager") is not None else "no speedup"
        console.print(f"best: {o.get('best_verdict')} · {speed} · stop: {o.get('stop_reason')} · "
                      f"{o.get('input_tokens')}/{o.get('output_tokens')} tokens · ${o.get('cost_usd', 0):.4f}",
                      highlight=False)


def _round_title(r: RoundView) -> str:
    parts = [(f"sample {r.sample} · " if r.sample else "") + f"round {r.round}"
             + (" · final re-timing of the best" if r.final else "") + (f" · hint {r.hint}" if r.hint else "")]
    if r.verdict:
        parts.append(r.verdict + (f" ({r.reason})" if r.reason else ""))
    tokens_in, tokens_out = r.tokens
    if r.calls:
        parts.append(f"{tokens_in}/{tokens_out} tokens · ${r.cost_usd:.4f}")
    return escape(" · ".join(parts))


def _round_body(r: RoundView, full: bool) -> object:
    lines: list[str] = []
    if r.advice:
        lines += ["[bold]Judge's advice[/]", escape(_clip(r.advice, 12, full)), ""]
    if r.origin and not r.final:
        lines.append(f"candidate {r.candidate_id} ({escape(r.origin)}), parent {r.parent_id or '-'}")
    if r.build_ok is not None:
        lines.append(f"build: {'ok' if r.build_ok else 'FAILED'} " + (
            (f"(cached; compiled in {r.compiled_seconds:.1f} s)" if r.compiled_seconds is not None else "(cached)")
            if r.build_cached else f"in {r.build_seconds or 0:.1f} s"))
        if not r.build_ok and r.build_log:
            lines.append(escape(_clip(r.build_log, 15, full)))
        if r.ptxas:
            lines.append("[dim]" + escape(_clip(r.ptxas, 4, full)) + "[/]")
    if r.summary and r.build_ok is not False:  # a failed build's summary is its log, shown above
        lines.append(escape(_clip(r.summary, 6, full)))
    shown = r.summary or ""
    lines += [f"[red]x[/] {escape(f)}" for f in r.failures if f not in shown]  # the summary quotes the first
    lines += [f"[yellow]flag[/] {escape(f)}" for f in r.flags[: None if full else 3]]
    if r.timing:
        lines.append(timing_line(r.timing))
    if r.profile_fallback:
        lines.append(f"[yellow]profiled with torch.profiler: {escape(r.profile_fallback)}[/]")
    lines += [f"profile: {escape(h)}" for h in r.profile[: None if full else 6]]
    lines += [f"[dim]{escape(n)}[/]" for n in r.notes]
    for call in r.calls:
        cost = f"${call.cost_usd:.4f}" if call.cost_usd is not None else "cost unknown"
        lines.append(f"[dim]{call.role} {call.purpose or ''}: {escape(call.model)} · {call.tokens_in}/{call.tokens_out} "
                     f"tokens · {cost} · {call.latency_s:.1f} s · {call.retries} retries"
                     + (f" · error: {escape(call.error)}" if call.error else "") + "[/]")
    body = "\n".join(lines)
    if r.diff and not r.final:
        from rich.console import Group

        return Group(body, Syntax(_clip(r.diff, DIFF_LINES, full), "diff", word_wrap=True))
    return body


def _clip(text: str, lines: int, full: bool) -> str:
    rows = text.rstrip().splitlines()
    if full or len(rows) <= lines:
        return "\n".join(rows)
    return "\n".join(rows[:lines] + [f"... {len(rows) - lines} more lines (--full)"])
