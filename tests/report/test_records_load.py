"""load_records against a store populated row by row, as the agent loop would have left it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kernelwright.report.metrics import compute_metrics
from kernelwright.report.records import load_records
from kernelwright.store import (
    Build,
    Candidate,
    Event,
    LLMCall,
    Run,
    SampleRecord,
    Store,
    StoreError,
    TaskRecord,
    Verification,
)
from kernelwright.verify.models import VerificationResult

FIXTURE_TASK = Path(__file__).resolve().parents[1] / "fixtures" / "tasks" / "tree" / "level1" / "1_scaled_relu.py"
T1, T2, T3 = "a" * 64, "b" * 64, "c" * 64


def evidence(verdict: str, reason: str | None = None, perf: str | None = None, error: str | None = None,
             **timing: float) -> dict[str, Any]:
    return VerificationResult(verdict=verdict, reason=reason, summary=verdict, task="t", task_hash="h",  # type: ignore[arg-type]
                              device="cuda", perf=perf, error=error, timing=timing or None).model_dump(mode="json")


def verify(store: Store, candidate: Candidate, verdict: str, reason: str | None = None, **fields: Any) -> Verification:
    return store.add(Verification(candidate_id=candidate.id, verdict=verdict, reason=reason,
                                  evidence=evidence(verdict, reason, **fields)))


def finish(store: Store, run_id: str, outcome: dict[str, Any]) -> None:
    """A finished sample's row, as the runner writes it (the final verification named by its event)."""
    store.put_sample(SampleRecord(run_id=run_id, task_hash=outcome["task_hash"], sample=outcome["sample"],
                                  status="finished", best_candidate_id=outcome.get("best_candidate_id"),
                                  stop_reason=outcome.get("stop_reason"), outcome=outcome))


def stamp(second: int) -> str:
    return f"2025-01-01T00:{second // 60:02d}:{second % 60:02d}.000000+00:00"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "kw.db") as s:
        yield s


def populate(store: Store, tmp_path: Path) -> str:
    """T1: finished, re-timed best; T2: interrupted mid-run (old events without "sample"); T3: never started."""
    fixture = tmp_path / "level1" / FIXTURE_TASK.name
    fixture.parent.mkdir()
    shutil.copy(FIXTURE_TASK, fixture)
    paths = ["tasks/level1/relu.py", "tasks/level2/gemm.py", "tasks/level1/softmax.py", "gone/level1/x.py",
             str(fixture)]
    run = store.add(Run(kind="agent", config={"tasks": paths}))
    other = store.add(Run(kind="agent", config={"tasks": []}))
    store.upsert_task(TaskRecord(hash=T1, name="relu", level=1, path=paths[0], source="# relu"))
    store.upsert_task(TaskRecord(hash=T2, name="gemm_add", level=2, path=paths[1], source="# gemm"))
    store.upsert_task(TaskRecord(hash=T3, name="softmax", level=1, path=paths[2], source="# softmax"))

    c0 = store.add(Candidate(run_id=run.id, task_hash=T1, round=0, origin="coder:seed", source="v0"))
    verify(store, c0, "INCORRECT", "elementwise")
    store.add(Event(run_id=run.id, kind="reply_error", payload={"task_hash": T1, "sample": 0, "round": 1, "detail": "429"}))
    store.add(Event(run_id=run.id, kind="no_code", payload={"task_hash": T1, "sample": 0, "round": 1, "detail": "no reply"}))
    c2 = store.add(Candidate(run_id=run.id, task_hash=T1, round=2, parent_id=c0.id, origin="coder:repair", source="v2"))
    verify(store, c2, "PASS", perf="PERF_VALID", speedup_eager=2.5, speedup_compile=1.1, ci_low=2.4, ci_high=2.6)
    final = verify(store, c2, "PASS", perf="PERF_VALID", speedup_eager=2.4, speedup_compile=1.05, ci_low=2.3,
                   ci_high=2.5, ci_compile_low=1.0, ci_compile_high=1.1)
    store.add(Event(run_id=run.id, kind="final_verification", payload={
        "task_hash": T1, "sample": 0, "candidate_id": c2.id, "verification_id": final.id, "verdict": "PASS"}))
    finish(store, run.id, {
        "task": "level1/relu", "task_hash": T1, "level": 1, "sample": 0, "best_candidate_id": c2.id,
        "best_verdict": "PASS", "best_speedup_eager": 2.4, "best_speedup_compile": 1.05, "ci_low": 2.3,
        "ci_high": 2.5, "rounds": 2, "stop_reason": "rounds", "error": None, "llm_calls": 99,
        "input_tokens": 9, "output_tokens": 9, "cost_usd": 9.0, "wall_s": 42.0})
    for tokens_in, tokens_out, cost in ((100, 10, 0.01), (200, 20, None), (300, 30, 0.02)):
        store.add(LLMCall(run_id=run.id, role="coder", model="m", task_hash=T1, tokens_in=tokens_in,
                          tokens_out=tokens_out, cost_usd=cost))
    store.add(LLMCall(run_id=run.id, role="coder", model="m", task_hash=T1, sample=1, tokens_in=50, tokens_out=5,
                      cost_usd=0.5))
    store.add(LLMCall(run_id=other.id, role="coder", model="m", task_hash=T1, tokens_in=7, tokens_out=7, cost_usd=7.0))

    d0 = store.add(Candidate(run_id=run.id, task_hash=T2, round=0, origin="coder:seed", source="w0", created_at=stamp(0)))
    log = 'k.cu(5): error: identifier "foo" is undefined'
    verify(store, d0, "COMPILE_FAIL", "build", error=log)
    store.add(Build(candidate_id=d0.id, source_hash="x", ok=False, seconds=3.0, log=log))
    d1 = store.add(Candidate(run_id=run.id, task_hash=T2, round=1, origin="coder:repair", source="w1", created_at=stamp(30)))
    verify(store, d1, "PASS", perf="PERF_VALID", speedup_eager=1.5, speedup_compile=0.8, ci_low=1.4, ci_high=1.6)
    store.add(Build(candidate_id=d1.id, source_hash="y", ok=True, seconds=3.0, log="warning: unused"))
    d2 = store.add(Candidate(run_id=run.id, task_hash=T2, round=2, origin="coder:optimise", source="w2", created_at=stamp(60)))
    verify(store, d2, "PASS", perf="PERF_INVALID", speedup_eager=9.0)
    store.add(Event(run_id=run.id, kind="stop", created_at=stamp(90),
                    payload={"task": "level2/gemm_add", "task_hash": T2, "round": 5, "detail": "budget: $1.00 spent"}))
    return run.id


def test_load_records(store: Store, tmp_path: Path) -> None:
    records = load_records(store, populate(store, tmp_path))
    assert [(r.task, r.sample) for r in records] == [
        ("level1/relu", 0), ("level1/relu", 1), ("level2/gemm_add", 0), ("level1/softmax", 0),
        ("level1/1_scaled_relu", 0)]
    done, started, interrupted, planned, loaded = records

    assert done.finished and done.level == 1
    assert [(r.round, r.verdict, r.reason) for r in done.rounds] == [
        (0, "INCORRECT", "elementwise"), (1, None, "reply_error"), (2, "PASS", None)]
    assert done.rounds[2].speedup_eager == 2.5  # the round's own verification, not the re-timing
    assert (done.best_verdict, done.best_candidate_id) == ("PASS", done.rounds[2].candidate_id)
    assert (done.best_speedup_eager, done.best_speedup_compile, done.ci_low, done.ci_high) == (2.4, 1.05, 2.3, 2.5)
    assert (done.ci_compile_low, done.ci_compile_high) == (1.0, 1.1)
    assert (done.stop_reason, done.wall_s) == ("rounds", 42.0)
    # summed from this run's calls of this sample, not the outcome's figures
    assert (done.llm_calls, done.input_tokens, done.output_tokens) == (3, 600, 60)
    assert done.cost_usd == pytest.approx(0.03)

    assert not started.finished and started.best_verdict == "NO_CANDIDATE" and started.rounds == []
    assert (started.llm_calls, started.input_tokens, started.cost_usd) == (1, 50, 0.5)

    assert not interrupted.finished and interrupted.level == 2
    assert [r.verdict for r in interrupted.rounds] == ["COMPILE_FAIL", "PASS", "PASS"]
    assert interrupted.rounds[0].compile_log == 'k.cu(5): error: identifier "foo" is undefined'
    assert interrupted.rounds[1].compile_log is None
    # best so far: the fastest timed PASS; the 9.0x of a PERF_INVALID round does not count
    assert (interrupted.best_verdict, interrupted.best_candidate_id) == ("PASS", interrupted.rounds[1].candidate_id)
    assert (interrupted.best_speedup_eager, interrupted.best_speedup_compile) == (1.5, 0.8)
    assert interrupted.stop_reason == "budget"
    assert interrupted.wall_s == 90.0  # first to last stored row

    assert (planned.task_hash, planned.best_verdict, planned.finished) == (T3, "NO_CANDIDATE", False)
    assert (loaded.level, loaded.best_verdict, loaded.rounds) == (1, "NO_CANDIDATE", [])

    metrics = compute_metrics(records).overall
    assert metrics.tasks == 4 and metrics.correct_rate == 0.5 and metrics.compile_rate == 0.5
    assert metrics.eager.geomean_correct == pytest.approx((2.4 * 1.5) ** 0.5)
    assert metrics.failures == {"no_code": {"not started": 2}}


def test_samples_of_the_config_and_a_failed_final_retiming(store: Store) -> None:
    run = store.add(Run(kind="eval", config={"tasks": ["t/level1/relu.py"], "samples": 3}))
    store.upsert_task(TaskRecord(hash=T1, name="relu", level=1, path="t/level1/relu.py", source="# relu"))
    c0 = store.add(Candidate(run_id=run.id, task_hash=T1, sample=1, round=0, origin="coder:seed", source="v0"))
    verify(store, c0, "PASS", perf="PERF_VALID", speedup_eager=1.3)
    final = verify(store, c0, "INCORRECT", "frobenius")
    store.add(Event(run_id=run.id, kind="final_verification", payload={
        "task_hash": T1, "sample": 1, "candidate_id": c0.id, "verification_id": final.id, "verdict": "INCORRECT"}))
    finish(store, run.id, {
        "task": "level1/relu", "task_hash": T1, "level": 1, "sample": 1, "best_candidate_id": c0.id,
        "best_verdict": "INCORRECT", "rounds": 1, "stop_reason": "rounds"})
    records = load_records(store, run.id)
    assert [(r.sample, r.best_verdict, r.finished) for r in records] == [
        (0, "NO_CANDIDATE", False), (1, "INCORRECT", True), (2, "NO_CANDIDATE", False)]
    assert records[1].best_reason == "frobenius" and records[1].best_speedup_eager is None
    assert compute_metrics(records).overall.pass_at_k == {"1": 0.0, "2": 0.0, "3": 0.0}


def test_unfinished_sample_with_a_final_verification(store: Store) -> None:
    run = store.add(Run(kind="agent"))
    store.upsert_task(TaskRecord(hash=T2, name="gemm_add", level=2, path="t/level2/gemm.py", source="# gemm"))
    c0 = store.add(Candidate(run_id=run.id, task_hash=T2, round=0, origin="coder:seed", source="v0"))
    verify(store, c0, "PASS", perf="PERF_VALID", speedup_eager=2.0)
    final = verify(store, c0, "PASS", perf="PERF_VALID", speedup_eager=1.9, speedup_compile=1.2, ci_low=1.8,
                   ci_high=2.0, ci_compile_low=1.1, ci_compile_high=1.3)
    store.add(Event(run_id=run.id, kind="final_verification", payload={
        "task": "level2/gemm_add", "task_hash": T2, "candidate_id": c0.id, "verification_id": final.id}))
    # a task the store holds no row of: named from its events
    store.add(Event(run_id=run.id, kind="no_code", payload={"task": "level3/vit", "task_hash": T3, "round": 0}))
    record, unknown = load_records(store, run.id)
    assert (unknown.task, unknown.level, unknown.rounds[0].reason) == ("level3/vit", 3, "no_code")
    assert (record.task, record.level, record.finished) == ("level2/gemm_add", 2, False)
    assert (record.best_verdict, record.best_speedup_eager, record.best_speedup_compile) == ("PASS", 1.9, 1.2)
    assert (record.ci_low, record.ci_high, record.ci_compile_low, record.ci_compile_high) == (1.8, 2.0, 1.1, 1.3)


def test_unknown_run(store: Store) -> None:
    with pytest.raises(StoreError, match="no run"):
        load_records(store, "nope")
