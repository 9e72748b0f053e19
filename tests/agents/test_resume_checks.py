"""A resumed run replays a stored reply only to the question it answered, and its wall-clock budget spans sessions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kernelwright.agents import loop as loop_module
from kernelwright.agents.budget import Budget, BudgetExhausted, BudgetLimits
from kernelwright.agents.loop import LoopConfig
from kernelwright.agents.runner import RunConfig, Runner
from kernelwright.agents.trajectory import ResumeMismatch
from kernelwright.llm import CallContext, Completion, Message
from kernelwright.llm.recording import RecordingModel
from kernelwright.store import LLMCall, Run, Store, StoreError
from kernelwright.verify.record import task_record

from test_runner import SOURCE, TASK, Executor, result


class Counting:
    """Replies with the same source; raises KeyboardInterrupt (a Ctrl-C mid-run) on call number `stop_at`."""

    spec = "test/model"

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls, self.stop_at = 0, stop_at

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return Completion(text=SOURCE, model="m", input_tokens=1, output_tokens=1, cost_usd=0.0)


CONFIG = RunConfig(tasks=[], model="test/model", device="cpu", loop=LoopConfig(rounds=2), profile=False,
                   sanitize=False)


def interrupted_run(path: Path) -> str:
    """A run stopped by Ctrl-C at its second model call: the seed's Coder reply is stored, nothing after it."""
    with Store(path) as store:
        model = Counting(stop_at=2)
        runner = Runner.start(store, CONFIG, kind="agent", coder=RecordingModel(model, store),
                              judge=RecordingModel(model, store), hardware={"device": "cpu"},
                              executor=Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 2.0, "PERF_VALID")))
        with pytest.raises(KeyboardInterrupt):
            runner.execute([TASK])
        [call] = [c for c in store.llm_calls(run_id=runner.run.id) if c.error is None]
        assert (call.round, call.purpose, call.sequence) == (0, "seed", 0) and call.prompt_hash
        return runner.run.id


def resume(path: Path, run_id: str, model: Counting) -> Runner:
    store = Store(path)
    return Runner.resume(store, run_id, CONFIG, coder=RecordingModel(model, store), judge=RecordingModel(model, store),
                         hardware={"device": "cpu"},
                         executor=Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 2.0, "PERF_VALID")))


def test_a_resume_replays_the_stored_reply_to_the_same_prompt(tmp_path: Path) -> None:
    run_id = interrupted_run(tmp_path / "kw.db")
    model = Counting()
    runner = resume(tmp_path / "kw.db", run_id, model)
    [outcome] = runner.execute([TASK])
    assert outcome.stop_reason == "rounds" and outcome.best_verdict == "PASS"
    calls = [c for c in runner.store.llm_calls(run_id=run_id) if c.error is None]
    assert [(c.round, c.role, c.sequence) for c in calls][0] == (0, "coder", 0)
    assert len(calls) == model.calls + 1  # the seed's reply was replayed, not asked again
    [row] = runner.store.samples(run_id)
    assert row.status == "finished" and row.outcome["best_verdict"] == "PASS"
    runner.store.close()


def test_a_changed_prompt_stops_the_resume_naming_the_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = interrupted_run(tmp_path / "kw.db")
    kept = tmp_path / "kept.db"
    shutil.copy(tmp_path / "kw.db", kept)
    real = loop_module.coder_messages

    def edited_template(*args, **kwargs):  # as if prompts/ changed between the sessions
        messages = real(*args, **kwargs)
        return [messages[0].model_copy(update={"content": messages[0].content + "\nAlso: be brief."}), *messages[1:]]

    monkeypatch.setattr(loop_module, "coder_messages", edited_template)
    model = Counting()
    runner = resume(tmp_path / "kw.db", run_id, model)
    with pytest.raises(ResumeMismatch, match=r"round 0, coder call 0 \(seed\): its prompt differs from the stored one"):
        runner.execute([TASK])
    assert model.calls == 0  # nothing was asked in its place
    runner.store.close()


def test_resume_keys_are_unique(tmp_path: Path) -> None:
    with Store(tmp_path / "kw.db") as store:
        run = store.add(Run(kind="agent"))
        call = LLMCall(run_id=run.id, role="coder", model="m", task_hash=TASK.hash, sequence=0, round=0)
        store.upsert_task(task_record(TASK))
        store.add(call)
        with pytest.raises(StoreError, match="rejected: UNIQUE constraint failed"):
            store.add(call.model_copy(update={"id": "another"}))
        store.add(call.model_copy(update={"id": "failed", "error": "429"}))  # failed attempts do not hold the key


def test_the_wall_clock_budget_spans_sessions(tmp_path: Path) -> None:
    assert Budget(BudgetLimits(max_wall_s=10), seconds_before=4).spent_s() >= 4
    with pytest.raises(BudgetExhausted, match="of 10 s"):
        Budget(BudgetLimits(max_wall_s=10), seconds_before=11).check()
    run_id = interrupted_run(tmp_path / "kw.db")
    with Store(tmp_path / "kw.db") as store:
        first = store.get(Run, run_id).active_s
    assert first > 0
    runner = resume(tmp_path / "kw.db", run_id, Counting())
    assert runner.budget.spent_s() >= first
    runner.execute([TASK])
    assert runner.store.get(Run, run_id).active_s > first
    runner.store.close()
