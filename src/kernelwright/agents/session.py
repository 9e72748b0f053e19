"""Assembling a run from its config: models (recorded), hardware sheet, executor, tasks; used by the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..llm import RecordingModel, open_model
from ..profile import hardware_facts
from ..sandbox.build import BuildCache
from ..store import Run, Store, StoreError
from ..tasks import Task, TaskSourceError, discover, find_task_path, level_of_dir, load_task
from .loop import Step
from .runner import RunConfig, Runner


def open_runner(store: Store, config: RunConfig | None = None, *, resume: str | None = None, kind: str = "agent",
                on_step: Callable[[Step], None] = lambda step: None, cache: BuildCache | None = None,
                overrides: dict[str, Any] | None = None, budget_overrides: dict | None = None) -> tuple[Runner, list[Task]]:
    """A runner for a new run (config) or a stored one (resume); models are checked before any work starts."""
    from ..evaluate import open_executor

    if resume is not None:
        stored = store.get(Run, resume)
        if stored is None or stored.kind not in ("agent", "eval"):
            raise StoreError(f"{store.path} has no run {resume!r} to resume; `kernelwright db info` lists runs")
        config = RunConfig.model_validate(stored.config)
        kind = stored.kind
    assert config is not None
    if overrides:
        config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if budget_overrides:
        config.budget = config.budget.model_copy(update={k: v for k, v in budget_overrides.items() if v is not None})
    tasks = load_run_tasks(config)
    coder = open_model(config.model, base_url=config.base_url, store=store)
    judge = coder if not config.judge_model or config.judge_model == config.model else open_model(
        config.judge_model, base_url=config.base_url, store=store)
    for model in {id(coder): coder, id(judge): judge}.values():
        model.preflight()
    executor = open_executor(config.executor, config.device, cpu_workers=config.cpu_workers, cache=cache,
                             address=config.ray_address)
    kwargs = dict(coder=RecordingModel(coder, store), judge=RecordingModel(judge, store),
                  hardware=hardware_facts(config.device), executor=executor, on_step=on_step)
    if resume is not None:
        return Runner.resume(store, resume, config, **kwargs), tasks
    return Runner.start(store, config, kind=kind, **kwargs), tasks


def load_run_tasks(config: RunConfig) -> list[Task]:
    """The run's task files; one that is gone or broken is one error line naming it."""
    tasks = []
    for path in config.tasks:
        try:
            tasks.append(load_task(Path(path)))
        except TaskSourceError as error:
            raise TaskSourceError(f"{path}: {error}") from None
        except OSError as error:
            raise TaskSourceError(f"{path}: {error}") from None
    return tasks


def resolve_tasks(refs: list[str], search_roots: list[Path], levels: list[int] | None = None) -> list[str]:
    """Task arguments (files, folders, levelN/NAME or NAME) as the task file paths a run stores."""
    paths: list[str] = []
    for ref in refs:
        files = discover(Path(ref)) if Path(ref).is_dir() else [find_task_path(ref, search_roots)]
        for file in files:
            if levels and level_of_dir(file.parent) not in levels:
                continue
            if str(file.resolve()) not in paths:
                paths.append(str(file.resolve()))
    return paths

