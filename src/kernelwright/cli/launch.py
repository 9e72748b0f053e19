"""What `run` and `eval` share: opening the store and the runner, executing with a live view, Ctrl-C and errors."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import typer
from rich.markup import escape

from ..store import Store, StoreError
from ..tasks import Task, TaskNotFound, TaskSourceError
from .db_cmd import db_path
from .render import console, fail, require_device


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

    try:
        runner, tasks = open_runner(store, config, resume=resume, kind=kind, budget_overrides=budget_overrides)
    except (LLMError, StoreError, TaskSourceError, TaskNotFound, ExecutorError) as exc:
        fail(escape(str(exc)))
    if resume is not None:
        require_device(runner.config.device)
    return runner, tasks


def execute(runner: Any, tasks: list[Task], progress: AbstractContextManager, command: str) -> list[Any]:
    """Runs with the live view; Ctrl-C and a fatal model or harness error end with the line that resumes."""
    from ..agents.trajectory import ResumeMismatch
    from ..llm import LLMError
    from ..verify.pipeline import VerifierError

    try:
        with progress:
            return runner.execute(tasks)
    except KeyboardInterrupt:
        console.print(f"interrupted; finished work is stored: kernelwright {command} --resume {runner.run.id}")
        raise typer.Exit(130)
    except (LLMError, VerifierError) as exc:
        fail(f"{escape(str(exc))} (run {runner.run.id}; fix it, then kernelwright {command} --resume {runner.run.id})")
    except ResumeMismatch as exc:
        fail(escape(str(exc)))
