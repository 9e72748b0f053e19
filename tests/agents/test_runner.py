"""The runner without kernels: models reply from a table, a fake executor hands back verdicts."""

from pathlib import Path

from kernelwright.agents.loop import LoopConfig, Step
from kernelwright.agents.runner import RunConfig, Runner
from kernelwright.evaluate.executor import LaneStats
from kernelwright.llm import CallContext, Completion, Message
from kernelwright.store import Store
from kernelwright.tasks import load_task
from kernelwright.verify.models import VerificationResult

TASK = load_task(Path(__file__).resolve().parents[2] / "tasks" / "level1" / "1_gelu.py")
SOURCE = "```python\nimport torch.nn as nn\nclass ModelNew(nn.Module):\n    pass\n```"


def result(verdict: str, speedup: object = None, perf: str | None = None) -> VerificationResult:
    return VerificationResult(verdict=verdict, summary=verdict.lower(), task=TASK.ref, task_hash=TASK.hash,
                              device="cpu", timing={"speedup_eager": speedup} if speedup is not None else None,
                              perf=perf)  # type: ignore[arg-type]


class Model:
    spec = "test/model"

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        return Completion(text=SOURCE, model="m", input_tokens=1, output_tokens=1, cost_usd=0.0)


class Executor:
    """Each sample's round verification gets `first`, its final re-timing `final`."""

    lanes = 1

    def __init__(self, first: VerificationResult, final: VerificationResult) -> None:
        self.first, self.final, self.verified = first, final, 0

    def build(self, task, source, options, on_phase=None) -> list:
        if on_phase is not None:
            on_phase("build")
        return []

    def verify(self, task, source, options, on_phase=None) -> VerificationResult:
        self.verified += 1
        if on_phase is not None:
            on_phase("correctness")
        return (self.first if self.verified % 2 else self.final).model_copy(deep=True)

    def stats(self) -> LaneStats:
        return LaneStats()


def start(store: Store, executor: Executor, samples: int = 1, steps: list[Step] | None = None) -> Runner:
    config = RunConfig(tasks=[], model="test/model", device="cpu", loop=LoopConfig(rounds=1), profile=False,
                       sanitize=False, samples=samples)
    return Runner.start(store, config, kind="eval", coder=Model(), judge=Model(), hardware={"device": "cpu"},
                        executor=executor, on_step=(steps.append if steps is not None else lambda step: None))


def test_a_valid_speedup_is_a_numeric_one_of_a_pass_not_perf_invalid():
    assert result("PASS", 2.5, "PERF_VALID").valid_speedup_eager == 2.5
    assert result("PASS", 2, None).valid_speedup_eager == 2.0  # timed without a perf verdict: counts
    assert result("PASS", 2.5, "PERF_INVALID").valid_speedup_eager is None
    assert result("SUSPECT", 2.5, "PERF_VALID").valid_speedup_eager is None
    assert result("PASS", "fast", "PERF_VALID").valid_speedup_eager is None
    assert result("PASS", True, "PERF_VALID").valid_speedup_eager is None
    assert result("PASS").valid_speedup_eager is None and result("PASS").speedup_counts
    assert not result("PASS", 2.5, "PERF_INVALID").speedup_counts and not result("INCORRECT").speedup_counts


def test_the_final_step_shows_no_speedup_for_a_perf_invalid_re_timing(tmp_path):
    steps: list[Step] = []
    executor = Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 9.0, "PERF_INVALID"))
    with Store(tmp_path / "kw.db") as store:
        [outcome] = start(store, executor, steps=steps).execute([TASK])
    [final] = [s for s in steps if s.kind == "final"]
    assert final.verdict == "PASS" and final.speedup is None
    assert [s.speedup for s in steps if s.kind == "verdict"] == [2.0]
    assert outcome.best_verdict == "PASS" and outcome.best_speedup_eager is None and outcome.ci_low is None


def test_a_valid_final_speedup_is_shown_and_kept(tmp_path):
    steps: list[Step] = []
    executor = Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 1.75, "PERF_VALID"))
    with Store(tmp_path / "kw.db") as store:
        [outcome] = start(store, executor, steps=steps).execute([TASK])
    assert [s.speedup for s in steps if s.kind == "final"] == [1.75] and outcome.best_speedup_eager == 1.75


def test_the_runner_passes_its_phase_view_to_the_executor_explicitly(tmp_path):
    """The executor is handed an on_phase callback (no thread state): each phase a verifier ends shows the next."""
    executor = Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 1.75, "PERF_VALID"))
    seen: list[tuple[str, int, str]] = []
    with Store(tmp_path / "kw.db") as store:
        runner = start(store, executor)
        runner.on_phase = lambda task, sample, phase: seen.append((task, sample, phase))
        runner.execute([TASK])
    assert [phase for _, _, phase in seen] == ["build", "correctness", "timing", "final re-timing", "timing"]
    assert {(task, sample) for task, sample, _ in seen} == {(TASK.ref, 0)}


def test_a_resumed_run_reads_its_events_once_however_many_samples(tmp_path, monkeypatch):
    samples = 5
    executor = Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 1.5, "PERF_VALID"))
    with Store(tmp_path / "kw.db") as store:
        reads: list[tuple] = []
        events = store.events

        def counted(*args, **kwargs):
            reads.append((args, kwargs))
            return events(*args, **kwargs)

        monkeypatch.setattr(store, "events", counted)
        runner = start(store, executor, samples=samples)
        first = runner.execute([TASK])
        assert [o.sample for o in first] == list(range(samples)) and executor.verified == 2 * samples
        assert len(reads) == 1  # neither finished(), the stop notes nor the final verifications read again

        reads.clear()
        resumed = Runner.resume(store, runner.run.id, runner.config, coder=Model(), judge=Model(),
                                hardware={"device": "cpu"}, executor=executor)
        again = resumed.execute([TASK])
        assert len(reads) == 0 and executor.verified == 2 * samples  # finished samples are their `samples` rows
        assert [o.model_dump() for o in again] == [o.model_dump() for o in first]
