"""What `run` and `eval` share: opening the store and the runner, executing with a live view, Ctrl-C and errors."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import typer
from rich.markup import escape

from ..store import Store, StoreError
from ..tasks import Task, TaskNotFound, TaskSourceError
from .db_cmd import db_path
from .render import console, err_console, fail, require_device


def open_store(ctx: typer.Context) -> Store:
    try:
        return Store(db_path(ctx))
    except StoreError as exc:
        fail(escape(str(exc)))


def open_run(store: Store, config: Any, *, resume: str | None, kind: str,
             budget_overrides: dict[str, Any] | None) -> tuple[Any, list[Task]]:
    """A started or resumed runner; models, tasks and the executor are checked first (one error line each)."""
    from ..agents.session import open_runner
    from ..evaluate.ray_executor import ExecutorError
    from ..llm import LLMError

    if resume is not None:
        say_if_finished(store, resume)
    try:
        runner, tasks = open_runner(store, config, resume=resume, kind=kind, budget_overrides=budget_overrides)
    except (LLMError, StoreError, TaskSourceError, TaskNotFound, ExecutorError) as exc:
        fail(escape(str(exc)))
    if resume is not None:
        require_device(runner.config.device)
    return runner, tasks


def say_if_finished(store: Store, run_id: str) -> None:
    """`--resume` of a run that already finished: nothing is redone, and the user is told so before its results."""
    from ..store import Run

    try:
        run = store.get(Run, run_id)
    except StoreError:
        return  # open_runner reports it
    if run is not None and run.status == "finished":
        err_console.print(f"run {escape(run_id)} is already finished: nothing to resume; its results follow",
                          highlight=False, soft_wrap=True)


def execute(runner: Any, tasks: list[Task], progress: AbstractContextManager, command: str) -> list[Any]:
    """Runs with the live view; Ctrl-C (see `graceful_stop`) and a fatal model or harness error end with the line
    that resumes."""
    from ..agents.trajectory import ResumeMismatch
    from ..llm import LLMError
    from ..verify.pipeline import VerifierError
    from .interrupt import graceful_stop

    resume = f"kernelwright {command} --resume {runner.run.id}"
    try:
        with graceful_stop(runner, command), progress:
            outcomes = runner.execute(tasks)
    except KeyboardInterrupt:
        outcomes = None
    except (LLMError, VerifierError) as exc:
        fail(f"{escape(str(exc))} (run {runner.run.id}; fix it, then {resume})")
    except ResumeMismatch as exc:
        fail(escape(str(exc)))
    if outcomes is None or runner.stopping:
        console.print(f"interrupted; finished work is stored: {resume}", highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    return outcomes
