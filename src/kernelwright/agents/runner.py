"""A run over tasks (and samples of each): the run record, one TaskLoop per sample, the final re-timing, resume.

`kernelwright run` executes samples one after another; `kernelwright eval` runs several at once. Model calls
then overlap (bounded), compilation goes to the executor's CPU pool and verification to its device lanes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..evaluate.executor import check as check_candidate
from ..llm import ChatModel, Completion, Message
from ..llm.models import CallContext
from ..store import Event, Run, SampleRecord, Store, StoreError, collect_environment, utc_now
from ..tasks import Task
from ..verify.models import VerificationResult
from ..verify.pipeline import VerifierError, VerifyOptions
from .budget import Budget, BudgetExhausted, BudgetLimits, Interrupted, Spend
from .loop import LoopConfig, Services, Step, TaskLoop, Tried
from .memory import Example, retrieve
from .phases import phase_reporter
from .search import SearchLoop
from .strategies import Beam, Evolve, Strategy, StrategyName, all_tried
from .trajectory import Trajectory

TASK_DONE = "task_done"
UNFINISHED = (BudgetExhausted.reason, Interrupted.reason)


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
    sanitize: bool = True  # compute-sanitizer on each sample's best candidate, on CUDA
    samples: int = 1  # independent trajectories per task (pass@k)
    workers: int = 1  # trajectories in flight at once
    llm_concurrency: int = 8  # model calls in flight at once
    cpu_workers: int = 2  # compilations in flight at once
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    memory: bool = True  # seed prompts show past winners of similar tasks (kernel memory), stored before the run
    memory_same_task: bool = False  # ... including winners of the run's own tasks
    strategy: StrategyName = "chain"  # chain: each sample refines its own best; beam, evolve: samples search together
    beam: int = 2  # beam: candidates kept across the task's samples each round


class SampleRun(BaseModel, arbitrary_types_allowed=True):
    """One sample being run: its row, trajectory and loop."""

    task: Task
    sample: int
    row: SampleRecord
    trajectory: Trajectory
    loop: TaskLoop
    options: VerifyOptions
    phase: Callable[[str], None]
    final_id: str | None = None  # its best's final verification, once re-timed


class TaskOutcome(BaseModel):
    task: str
    task_hash: str
    level: int | None = None
    sample: int = 0
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
    wall_s: float = 0.0


def spend_of(store: Store, run_id: str, task_hash: str | None = None, sample: int | None = None) -> Spend:
    """Exact sums of what the provider reported, from the stored calls."""
    return Spend(**store.llm_totals(run_id, task_hash, sample))


class BoundedModel:
    """At most `limit` calls of all wrapped models in flight at once."""

    def __init__(self, inner: ChatModel, gate: threading.BoundedSemaphore) -> None:
        self.inner, self.gate, self.spec = inner, gate, inner.spec

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        with self.gate:
            return self.inner.complete(messages, context)


class Runner:
    def __init__(self, store: Store, run: Run, config: RunConfig, coder: ChatModel, judge: ChatModel,
                 hardware: dict[str, Any], executor: Any, on_step: Callable[[Step], None] = lambda step: None) -> None:
        self.store, self.run, self.config, self.executor = store, run, config, executor
        gate = threading.BoundedSemaphore(max(1, config.llm_concurrency))
        self.coder, self.judge = BoundedModel(coder, gate), BoundedModel(judge, gate)
        self.hardware, self.on_step = hardware, on_step
        self.on_sample: Callable[[TaskOutcome], None] = lambda outcome: None
        self.on_phase: Callable[[str, int, str], None] = lambda task, sample, phase: None  # the phase running now
        self.budget = Budget(config.budget, spend_of(store, run.id), seconds_before=run.active_s)
        self._events_lock = threading.Lock()
        self._events: dict[tuple[str, int], list[Event]] | None = None  # the run's stored events by (task, sample)
        self._samples: dict[tuple[str, int], SampleRecord] = {
            (row.task_hash, row.sample): row for row in store.samples(run.id)}
        self._session_started = time.monotonic()
        self._own_tasks: set[str] = set()  # the tasks of this run, whose winners the memory does not show
        self._futures: list[Future[TaskOutcome]] = []

    @classmethod
    def start(cls, store: Store, config: RunConfig, kind: str = "agent", **kwargs: Any) -> Runner:
        run = store.add(Run(kind=kind, config=config.model_dump(mode="json"), environment=collect_environment()))
        return cls(store, run, config, **kwargs)

    @classmethod
    def resume(cls, store: Store, run_id: str, config: RunConfig, **kwargs: Any) -> Runner:
        run = store.get(Run, run_id)
        if run is None or run.kind not in ("agent", "eval"):
            raise StoreError(f"{store.path} has no agent or eval run {run_id!r}; `kernelwright db info` lists runs")
        run = store.update_run(run_id, status="running", finished_at=None)
        return cls(store, run, config, **kwargs)

    def execute(self, tasks: list[Task]) -> list[TaskOutcome]:
        """Every (task, sample) of the run; finished ones are read back, the rest run (several at once if asked).

        After `stop()` queued samples never start and running ones end at their next step; the outcomes of those
        that ran are returned and the run is marked interrupted.
        """
        self._own_tasks = {task.hash for task in tasks}
        outcomes: list[TaskOutcome] = []
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.config.workers), thread_name_prefix="kw-task") as pool:
                if self.config.strategy == "chain":
                    self._futures = [pool.submit(self.sample, task, sample)
                                     for task in tasks for sample in range(self.config.samples)]
                else:  # a search runs a task's samples together; --workers counts tasks
                    self._futures = [pool.submit(self.searched, task) for task in tasks]
                try:
                    for future in self._futures:
                        try:
                            done = future.result()
                        except CancelledError:
                            continue
                        outcomes.extend(done if isinstance(done, list) else [done])
                except BaseException:
                    self.stop()  # the other threads stop at their next step
                    raise
        except KeyboardInterrupt:
            self._end_session("interrupted")
            raise
        except BaseException:
            self._end_session("failed")
            raise
        finished = not self.stopping and all(o.stop_reason not in UNFINISHED for o in outcomes)
        self._end_session("finished" if finished else "interrupted")
        return outcomes

    def _end_session(self, status: str) -> None:
        self.store.add_active_seconds(self.run.id, time.monotonic() - self._session_started)
        self.store.finish_run(self.run.id, status=status)  # type: ignore[arg-type]

    @property
    def stopping(self) -> bool:
        return self.budget.interrupted

    def in_flight(self) -> int:
        """Samples running now (started and not done)."""
        return sum(future.running() for future in self._futures)

    def stop(self) -> None:
        """Queued samples never start; running ones end at their next step boundary, keeping what they stored."""
        self.budget.interrupt()
        for future in self._futures:
            future.cancel()

    def sample(self, task: Task, sample: int) -> TaskOutcome:
        outcome = self.finished(task, sample) or self.solve(task, sample)
        self.on_sample(outcome)
        return outcome

    def searched(self, task: Task) -> list[TaskOutcome]:
        outcomes = self.search(task)
        for outcome in outcomes:
            self.on_sample(outcome)
        return outcomes

    def finished(self, task: Task, sample: int = 0) -> TaskOutcome | None:
        """The stored outcome of a sample an earlier session finished (its `samples` row), else None."""
        with self._events_lock:
            row = self._samples.get((task.hash, sample))
        return TaskOutcome.model_validate(row.outcome) if row is not None and row.status == "finished" else None

    def stored_events(self, task: Task, sample: int = 0) -> list[Event]:
        """This task and sample's events from earlier sessions of the run; the run's events are read once."""
        with self._events_lock:
            if self._events is None:
                self._events = {}
                for event in self.store.events(run_id=self.run.id):
                    key = (event.payload.get("task_hash"), event.payload.get("sample", 0))
                    self._events.setdefault(key, []).append(event)  # type: ignore[arg-type]
            return self._events.setdefault((task.hash, sample), [])

    def solve(self, task: Task, sample: int = 0) -> TaskOutcome:
        """One chain: the sample refines its own best."""
        started = time.monotonic()
        run = self._open_sample(task, sample)
        outcome = TaskOutcome(task=task.ref, task_hash=task.hash, level=task.level, sample=sample)
        try:
            outcome.stop_reason = run.loop.run()
            self._fill_best(run, run, run.loop.best(), run.loop.tried, outcome)
        except VerifierError as error:
            outcome.error = str(error)
        return self._close_sample(run, outcome, time.monotonic() - started)

    def search(self, task: Task) -> list[TaskOutcome]:
        """All samples of a task as one search (beam, evolve): sample 0's outcome is the search's best, re-timed;
        the others keep the best of their own candidates."""
        stored = [self.finished(task, sample) for sample in range(self.config.samples)]
        if all(stored):
            return [o for o in stored if o is not None]
        started = time.monotonic()
        runs = [self._open_sample(task, sample) for sample in range(self.config.samples)]
        search = SearchLoop([run.loop for run in runs], make_strategy(self, task), self.config.loop)
        outcomes = [TaskOutcome(task=task.ref, task_hash=task.hash, level=task.level, sample=s) for s in range(len(runs))]
        try:
            reason = search.run()
            for run, outcome in zip(runs, outcomes):
                outcome.stop_reason = reason
                own = run.loop.best() if run is not runs[0] else search.best()
                tried = run.loop.tried if run is not runs[0] else all_tried(search.loops)
                owner = runs[own.candidate.sample] if own is not None else run
                self._fill_best(run, owner, own, tried, outcome, final=run is runs[0])
        except VerifierError as error:
            for outcome in outcomes:
                outcome.error = str(error)
        wall = time.monotonic() - started
        return [self._close_sample(run, outcome, wall) for run, outcome in zip(runs, outcomes)]

    def _open_sample(self, task: Task, sample: int) -> SampleRun:
        with self._events_lock:
            before = self._samples.get((task.hash, sample))
        row = SampleRecord(run_id=self.run.id, task_hash=task.hash, sample=sample, status="running",
                           elapsed_s=before.elapsed_s if before else 0.0)
        trajectory = Trajectory(self.store, self.run.id, task, self.config.device, sample,
                                events=self.stored_events(task, sample))
        self.store.put_sample(row)  # after the trajectory stored the task the row refers to
        options = VerifyOptions(device=self.config.device, compile_baseline=self.config.compile_baseline)  # type: ignore[arg-type]

        def phase(name: str) -> None:
            self.on_phase(task.ref, sample, name)

        def check(source: str) -> VerificationResult:
            # built on the CPU pool while other candidates hold the device; an early verdict never takes a lane
            return check_candidate(self.executor, task, source, options, phase_reporter(phase))

        def profile_one(source: str, result: VerificationResult) -> Any:
            return self.executor.profile(task, source, result, self.config.device,
                                         phase_reporter(phase, first="profile"))

        services = Services(coder=self.coder, judge=self.judge, verify=check,
                            profile=profile_one if self.config.profile else None,
                            hardware=self.hardware, backend=self.config.device, memory=self._memory())
        loop = TaskLoop(trajectory, services, self.config.loop, self.budget, self.on_step)
        return SampleRun(task=task, sample=sample, row=row, trajectory=trajectory, loop=loop, options=options,
                         phase=phase)

    def _fill_best(self, run: SampleRun, owner: SampleRun, best: Tried | None, tried: list[Tried],
                   outcome: TaskOutcome, final: bool = True) -> None:
        """The outcome's best: re-timed in fresh processes (`final`; stored in the trajectory of the sample that
        made it, `owner`), else its round's verification; without a timed candidate, the last one tried."""
        task, sample = run.task, run.sample
        if best is not None and outcome.stop_reason != Interrupted.reason and final:
            final_options = run.options.model_copy(
                update={"sanitize": self.config.sanitize and self.config.device.startswith("cuda")})
            on_phase = phase_reporter(run.phase, first="final re-timing")
            result = owner.trajectory.final_verification(  # built already: straight to the device
                best.candidate, lambda: self.executor.verify(task, best.candidate.source, final_options, on_phase))
            self.on_step(Step(task=task.ref, sample=sample, round=best.candidate.round, kind="final",
                              verdict=result.verdict, speedup=result.valid_speedup_eager,
                              detail="re-timed in fresh processes"))
            _fill_from(outcome, best.candidate.id, result)
            run.final_id = owner.trajectory.final_id(best.candidate.id)
        elif best is not None and not final:
            _fill_from(outcome, best.candidate.id, best.result)
        elif tried:
            _fill_from(outcome, tried[-1].candidate.id, tried[-1].result)

    def _close_sample(self, run: SampleRun, outcome: TaskOutcome, wall_s: float) -> TaskOutcome:
        task, sample, row = run.task, run.sample, run.row
        outcome.rounds = len(run.loop.tried)
        spend = spend_of(self.store, self.run.id, task.hash, sample)
        outcome.llm_calls, outcome.input_tokens, outcome.output_tokens = spend.llm_calls, spend.input_tokens, spend.output_tokens
        outcome.cost_usd = spend.cost_usd
        outcome.wall_s = wall_s
        done = outcome.stop_reason not in UNFINISHED
        row = row.model_copy(update=dict(
            status="finished" if done else "stopped", best_candidate_id=outcome.best_candidate_id,
            final_verification_id=run.final_id, stop_reason=outcome.stop_reason, error=outcome.error,
            elapsed_s=row.elapsed_s + outcome.wall_s, outcome=outcome.model_dump(mode="json"), updated_at=utc_now()))
        with self.store.transaction():
            self.store.put_sample(row)
            if done:  # the log's line; what the sample means is its row
                run.trajectory.event(TASK_DONE, outcome=outcome.model_dump(mode="json"))
        with self._events_lock:
            self._samples[(task.hash, sample)] = row
        return outcome

    def _memory(self) -> Callable[[Task], list[Example]] | None:
        """Past winners for a seed prompt: other tasks' (unless asked), stored before this run began."""
        if not self.config.memory:
            return None
        exclude = set() if self.config.memory_same_task else set(self._own_tasks)
        backend = "cuda" if self.config.device.startswith("cuda") else "cpu"
        return lambda task: retrieve(self.store, task, backend, before=self.run.created_at,
                                     exclude=exclude | ({task.hash} if not self.config.memory_same_task else set()))


def make_strategy(runner: Runner, task: Task) -> Strategy:
    config = runner.config
    if config.strategy == "beam":
        return Beam(config.beam, config.device)
    return Evolve(runner.store, runner.run.id, task.hash, config.device)


def _fill_from(outcome: TaskOutcome, candidate_id: str, result: VerificationResult) -> None:
    timing = result.timing or {}
    outcome.best_candidate_id = candidate_id
    outcome.best_verdict = result.verdict
    if result.speedup_counts:
        outcome.best_speedup_eager = result.valid_speedup_eager
        outcome.best_speedup_compile = timing.get("speedup_compile")
        outcome.ci_low, outcome.ci_high = timing.get("ci_low"), timing.get("ci_high")
