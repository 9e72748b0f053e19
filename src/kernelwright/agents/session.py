"""Assembling a run from its config: models (recorded), hardware sheet, profiler, tasks; used by the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..llm import RecordingModel, open_model
from ..profile import hardware_facts, profile_candidate
from ..sandbox.build import BuildCache
from ..store import Store
from ..tasks import Task, TaskSourceError, discover, find_task, load_task
from .loop import Step
from .runner import RunConfig, Runner


def open_runner(store: Store, config: RunConfig | None = None, *, resume: str | None = None,
                on_step: Callable[[Step], None] = lambda step: None, cache: BuildCache | None = None,
                budget_overrides: dict | None = None) -> tuple[Runner, list[Task]]:
    """A runner for a new run (config) or a stored one (resume); models are checked before any work starts."""
    if resume is not None:
        from ..store import Run, StoreError

        stored = store.get(Run, resume)
        if stored is None or stored.kind != "agent":
            raise StoreError(f"{store.path} has no agent run {resume!r}; `kernelwright db info` lists runs")
        config = RunConfig.model_validate(stored.config)
    assert config is not None
    if budget_overrides:
        config.budget = config.budget.model_copy(update={k: v for k, v in budget_overrides.items() if v is not None})
    tasks = load_run_tasks(config)
    coder = open_model(config.model, base_url=config.base_url, store=store)
    judge = coder if not config.judge_model or config.judge_model == config.model else open_model(
        config.judge_model, base_url=config.base_url, store=store)
    for model in {id(coder): coder, id(judge): judge}.values():
        preflight = getattr(model, "preflight", None)
        if preflight is not None:
            preflight()
    kwargs = dict(coder=RecordingModel(coder, store), judge=RecordingModel(judge, store),
                  hardware=hardware_facts(config.device), cache=cache, on_step=on_step,
                  profiler=(lambda task, source, result: profile_candidate(task, source, result, device=config.device,
                                                                           cache=cache)) if config.profile else None)
    if resume is not None:
        runner = Runner.resume(store, resume, **kwargs)
        runner.config = config
        runner.budget.limits = config.budget
        return runner, tasks
    return Runner.start(store, config, **kwargs), tasks


def load_run_tasks(config: RunConfig) -> list[Task]:
    """The run's task files; one that is gone or broken is one error line naming it."""
    tasks = []
    for path in config.tasks:
        try:
            tasks.append(load_task(Path(path)))
        except TaskSourceError as error:
            raise TaskSourceError(f"{path}: {error}") from None
    return tasks


def resolve_tasks(refs: list[str], search_roots: list[Path]) -> list[str]:
    """Task arguments (files, folders, levelN/NAME or NAME) as the task file paths a run stores."""
    paths: list[str] = []
    for ref in refs:
        files = discover(Path(ref)) if Path(ref).is_dir() else [Path(find_task(ref, search_roots).path or ref)]
        paths.extend(str(file.resolve()) for file in files if str(file.resolve()) not in paths)
    return paths
