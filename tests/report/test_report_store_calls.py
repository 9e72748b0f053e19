"""A report reads the store a fixed number of times, however many candidates its run has."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kernelwright.report.context import build_context
from kernelwright.report.records import load_records
from kernelwright.store import (
    Build,
    Candidate,
    Event,
    LLMCall,
    Profile,
    Run,
    Store,
    TaskRecord,
    Verification,
)

READS = ("get", "runs", "tasks", "candidates", "builds", "verifications", "timings", "profiles", "llm_calls",
         "llm_call_heads", "llm_totals", "llm_totals_by_sample", "events")


def _populate(store: Store, tasks: int, rounds: int) -> str:
    run = store.add(Run(kind="agent", config={"device": "cuda"}))
    for t in range(tasks):
        task_hash = f"{t:064x}"
        store.upsert_task(TaskRecord(hash=task_hash, name=f"t{t}", level=1, source="x"))
        last = None
        for r in range(rounds):
            candidate = store.add(Candidate(run_id=run.id, task_hash=task_hash, round=r, origin="coder",
                                            source=f"s{r}", parent_id=last))
            verdict = "COMPILE_FAIL" if r == 0 else "PASS"
            store.add(Build(candidate_id=candidate.id, source_hash="x", ok=r > 0, seconds=1.0, log="error: x"))
            verification = store.add(Verification(candidate_id=candidate.id, verdict=verdict, evidence={
                "verdict": verdict, "summary": verdict, "task": f"level1/t{t}", "task_hash": task_hash,
                "device": "cuda", "error": "error: x" if r == 0 else None}))
            store.add(Profile(candidate_id=candidate.id, tool="ncu",
                              metrics={"tool": "ncu", "device": "cuda", "ok": True}))
            store.add(LLMCall(run_id=run.id, role="coder", model="m", task_hash=task_hash, round=r,
                              messages=[{"role": "user", "content": "prompt"}]))
            last = candidate.id
        store.add(Event(run_id=run.id, kind="final_verification", payload={
            "task_hash": task_hash, "sample": 0, "candidate_id": last, "verification_id": verification.id}))
    return run.id


@contextmanager
def _counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the calls of every Store read while the block runs."""
    calls: Counter[str] = Counter()
    with monkeypatch.context() as patch:
        for name in READS:
            original = getattr(Store, name)

            def counted(self, *args, _original=original, _name=name, **kwargs):
                calls[_name] += 1
                return _original(self, *args, **kwargs)

            patch.setattr(Store, name, counted)
        yield calls


def _reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tasks: int, rounds: int) -> Counter[str]:
    store = Store(tmp_path / f"kw-{tasks}-{rounds}.db")
    run_id = _populate(store, tasks, rounds)
    with _counting(monkeypatch) as calls:
        context = build_context(store, run_id)
    store.close()
    assert len(context.main.records) == tasks and len(context.main.view.tasks) == tasks
    assert sum(len(t.rounds) for t in context.main.view.tasks) == tasks * (rounds + 1)  # + the final re-timing
    return calls


def test_a_report_reads_each_kind_of_row_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = _reads(tmp_path, monkeypatch, tasks=1, rounds=2)
    large = _reads(tmp_path, monkeypatch, tasks=10, rounds=6)
    assert large == small  # O(1) in the number of candidates
    assert large["verifications"] == 1 and large["builds"] <= 1 and large["profiles"] <= 1
    assert large["candidates"] == 1 and large["events"] == 1 and large["tasks"] == 1 and large["get"] == 1
    assert large["llm_calls"] == 0 and large["llm_call_heads"] == 1  # prompts are never read
    assert sum(large.values()) <= 10


def test_records_take_the_compile_log_from_the_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(tmp_path / "kw.db") as store:
        run_id = _populate(store, tasks=2, rounds=2)
        with _counting(monkeypatch) as calls:
            records = load_records(store, run_id)
    assert [r.rounds[0].compile_log for r in records] == ["error: x", "error: x"]
    assert [r.rounds[1].compile_log for r in records] == [None, None]
    assert calls["builds"] == 0 and calls["profiles"] == 0 and calls["verifications"] == 1
