"""A run over one or more tasks: the run record, one TaskLoop per task, the final re-timing, and resume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from ..llm import ChatModel
from ..sandbox.build import BuildCache
from ..store import Run, Store, StoreError, collect_environment
from ..tasks import Task
from ..verify.models import VerificationResult
from ..verify.pipeline import VerifierError, VerifyOptions, verify
from .budget import Budget, BudgetExhausted, BudgetLimits, Spend
from .loop import LoopConfig, Services, Step, TaskLoop
from .trajectory import Trajectory

TASK_DONE = "task_done"


class RunConfig(BaseModel):
    """Everything needed to start or resume a run; stored as the run's config."""

    tasks: list[str]  # task file paths
    model: str
    judge_model: str | None = None
    base_url: str | None = None
    device: str = "cuda"
    loop: LoopConfig = Field(default_factory=LoopConfig)
    budget: BudgetLimits = Field(default_factory=BudgetLimits)
    compile_baseline: bool = True
    profile: bool = True


class TaskOutcome(BaseModel):
    task: str
    task_hash: str
    level: int | None = None
    best_candidate_id: str | None = None
    best_verdict: str = "NO_CANDIDATE"
    best_speedup_eager: float | None = None
    best_speedup_compile: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rounds: int = 0
    stop_reason: str | None = None
    error: str | None = None
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


def spend_of(store: Store, run_id: str, task_hash: str | None = None) -> Spend:
    """Exact sums of what the provider reported, from the stored calls."""
    spend = Spend()
    for call in store.llm_calls(run_id=run_id):
        if task_hash is None or call.task_hash == task_hash:
            spend.add(call.tokens_in, call.tokens_out, call.cost_usd)
    return spend


class Runner:
    def __init__(self, store: Store, run: Run, config: RunConfig, coder: ChatModel, judge: ChatModel,
                 hardware: dict[str, Any], profiler: Callable[[Task, str, VerificationResult], Any] | None,
                 cache: BuildCache | None = None, on_step: Callable[[Step], None] = lambda step: None) -> None:
        self.store, self.run, self.config = store, run, config
        self.coder, self.judge, self.hardware, self.profiler = coder, judge, hardware, profiler
        self.cache = cache or BuildCache()
        self.on_step = on_step
        self.budget = Budget(config.budget, spend_of(store, run.id))

    @classmethod
    def start(cls, store: Store, config: RunConfig, **kwargs: Any) -> Runner:
        run = store.add(Run(kind="agent", config=config.model_dump(mode="json"), environment=collect_environment()))
        return cls(store, run, config, **kwargs)

    @classmethod
    def resume(cls, store: Store, run_id: str, **kwargs: Any) -> Runner:
        run = store.get(Run, run_id)
        if run is None or run.kind != "agent":
            raise StoreError(f"{store.path} has no agent run {run_id!r}; `kernelwright show` lists runs")
        store.update_run(run_id, status="running", finished_at=None)
        return cls(store, run, RunConfig.model_validate(run.config), **kwargs)

    def execute(self, tasks: list[Task]) -> list[TaskOutcome]:
        outcomes = []
        try:
            for task in tasks:
                outcomes.append(self.finished(task) or self.solve(task))
        except KeyboardInterrupt:
            self.store.finish_run(self.run.id, status="interrupted")
            raise
        except BaseException:
            self.store.finish_run(self.run.id, status="failed")
            raise
        self.store.finish_run(self.run.id)
        return outcomes

    def finished(self, task: Task) -> TaskOutcome | None:
        for event in self.store.events(run_id=self.run.id, kind=TASK_DONE):
            if event.payload.get("task_hash") == task.hash:
                return TaskOutcome.model_validate(event.payload["outcome"])
        return None

    def solve(self, task: Task) -> TaskOutcome:
        trajectory = Trajectory(self.store, self.run.id, task, self.config.device)
        options = VerifyOptions(device=self.config.device, compile_baseline=self.config.compile_baseline)  # type: ignore[arg-type]
        check = lambda source: verify(task, source, options, self.cache)  # noqa: E731
        profile = (lambda source, result: self.profiler(task, source, result)) if self.profiler else None
        services = Services(coder=self.coder, judge=self.judge, verify=check, profile=profile,
                            hardware=self.hardware, backend=self.config.device)
        loop = TaskLoop(trajectory, services, self.config.loop, self.budget, self.on_step)
        outcome = TaskOutcome(task=task.ref, task_hash=task.hash, level=task.level)
        try:
            outcome.stop_reason = loop.run()
            best = loop.best()
            if best is not None:
                final = trajectory.final_verification(best.candidate, lambda: check(best.candidate.source))
                self.on_step(Step(task=task.ref, round=best.candidate.round, kind="final", verdict=final.verdict,
                                  speedup=(final.timing or {}).get("speedup_eager"), detail="re-timed in fresh processes"))
                _fill_from(outcome, best.candidate.id, final)
            elif loop.tried:
                _fill_from(outcome, loop.tried[-1].candidate.id, loop.tried[-1].result)
        except VerifierError as error:
            outcome.error = str(error)
        outcome.rounds = len(loop.tried)
        spend = spend_of(self.store, self.run.id, task.hash)
        outcome.llm_calls, outcome.input_tokens, outcome.output_tokens = spend.llm_calls, spend.input_tokens, spend.output_tokens
        outcome.cost_usd = spend.cost_usd
        if outcome.stop_reason != BudgetExhausted.reason:
            trajectory.event(TASK_DONE, outcome=outcome.model_dump(mode="json"))
        return outcome


def _fill_from(outcome: TaskOutcome, candidate_id: str, result: VerificationResult) -> None:
    timing = result.timing or {}
    outcome.best_candidate_id = candidate_id
    outcome.best_verdict = result.verdict
    if result.passed and result.perf != "PERF_INVALID":
        outcome.best_speedup_eager = timing.get("speedup_eager")
        outcome.best_speedup_compile = timing.get("speedup_compile")
        outcome.ci_low, outcome.ci_high = timing.get("ci_low"), timing.get("ci_high")
