"""Migration 4 on a database the previous release wrote: it opens, migrates in place, and its report reads the same
outcomes from the `samples` rows that the previous release read from `task_done` events."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from kernelwright.report.metrics import compute_metrics
from kernelwright.report.records import load_records
from kernelwright.store import (APPLICATION_ID, MIGRATIONS, Candidate, Event, LLMCall, Record, Run, Store, TaskRecord,
                                Verification)
from kernelwright.store.rows import to_row
from kernelwright.verify.models import VerificationResult

T1, T2 = "a" * 64, "b" * 64


def _put(db: Database, record: Record) -> Record:
    """A row as the previous release wrote it: only the columns its schema had."""
    columns = db[record.table_name].columns_dict
    row = {k: v for k, v in to_row(record).items() if k in columns}
    if isinstance(record, Event):
        row.pop("id")
    db[record.table_name].insert(row)
    return record


def _evidence(verdict: str, speedup: float | None = None) -> dict:
    return VerificationResult(verdict=verdict, summary=verdict, task="t", task_hash="h", device="cuda",  # type: ignore[arg-type]
                              perf="PERF_VALID" if speedup else None,
                              timing={"speedup_eager": speedup} if speedup else None).model_dump(mode="json")


def previous_release_database(path: Path) -> str:
    db = Database(path)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA foreign_keys = ON")
    from kernelwright.store import migrate

    assert migrate(db, MIGRATIONS[:3]) == [1, 2, 3]
    run = _put(db, Run(kind="eval", status="finished", config={"tasks": ["l1/relu.py", "l1/gelu.py"], "samples": 2}))
    for task_hash, name in ((T1, "relu"), (T2, "gelu")):
        _put(db, TaskRecord(hash=task_hash, name=name, level=1, path=f"l1/{name}.py", source="#"))
    # relu sample 0: wrong, then right; re-timed; finished
    c0 = _put(db, Candidate(run_id=run.id, task_hash=T1, round=0, origin="coder:seed", source="v0"))
    _put(db, Verification(candidate_id=c0.id, verdict="INCORRECT", reason="elementwise", evidence=_evidence("INCORRECT")))
    c1 = _put(db, Candidate(run_id=run.id, task_hash=T1, round=1, origin="coder:repair", source="v1", parent_id=c0.id))
    _put(db, Verification(candidate_id=c1.id, verdict="PASS", evidence=_evidence("PASS", 2.2)))
    final = _put(db, Verification(candidate_id=c1.id, verdict="PASS", evidence=_evidence("PASS", 2.0)))
    _put(db, Event(run_id=run.id, kind="final_verification", payload={
        "task_hash": T1, "sample": 0, "candidate_id": c1.id, "verification_id": final.id, "verdict": "PASS"}))
    _put(db, Event(run_id=run.id, kind="task_done", payload={"task": "level1/relu", "task_hash": T1, "sample": 0,
                                                            "outcome": {
        "task": "level1/relu", "task_hash": T1, "level": 1, "sample": 0, "best_candidate_id": c1.id,
        "best_verdict": "PASS", "best_speedup_eager": 2.0, "rounds": 2, "stop_reason": "rounds", "wall_s": 30.0}}))
    # relu sample 1: stopped by the budget, never finished
    _put(db, Event(run_id=run.id, kind="stop", payload={"task_hash": T1, "sample": 1, "round": 0,
                                                       "detail": "budget: $1.00 spent"}))
    # gelu sample 0: a compile failure, finished
    d0 = _put(db, Candidate(run_id=run.id, task_hash=T2, round=0, origin="coder:seed", source="w0"))
    _put(db, Verification(candidate_id=d0.id, verdict="COMPILE_FAIL", reason="build", evidence=_evidence("COMPILE_FAIL")))
    _put(db, Event(run_id=run.id, kind="task_done", payload={"task": "level1/gelu", "task_hash": T2, "sample": 0,
                                                            "outcome": {
        "task": "level1/gelu", "task_hash": T2, "level": 1, "sample": 0, "best_candidate_id": d0.id,
        "best_verdict": "COMPILE_FAIL", "rounds": 1, "stop_reason": "failures", "wall_s": 5.0}}))
    _put(db, LLMCall(run_id=run.id, role="coder", model="m", task_hash=T1, sequence=0, round=0, tokens_in=10))
    db.conn.commit()
    db.close()
    return run.id


def test_a_previous_release_database_migrates_and_reports_the_same(tmp_path: Path) -> None:
    path = tmp_path / "kw.db"
    run_id = previous_release_database(path)
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS) >= 4
        rows = {(r.task_hash, r.sample): r for r in store.samples(run_id)}
        assert set(rows) == {(T1, 0), (T2, 0)}  # only finished samples had an outcome to carry over
        relu = rows[(T1, 0)]
        assert (relu.status, relu.stop_reason, relu.elapsed_s) == ("finished", "rounds", 30.0)
        final = next(v for v in store.verifications(run_id=run_id) if v.purpose == "final")
        assert relu.final_verification_id == final.id and relu.best_candidate_id == final.candidate_id
        records = load_records(store, run_id)
    got = [(r.task, r.sample, r.best_verdict, r.best_speedup_eager, r.finished, r.stop_reason) for r in records]
    assert got == [("level1/relu", 0, "PASS", 2.0, True, "rounds"), ("level1/relu", 1, "NO_CANDIDATE", None, False, "budget"),
                   ("level1/gelu", 0, "COMPILE_FAIL", None, True, "failures"),
                   ("level1/gelu", 1, "NO_CANDIDATE", None, False, None)]
    overall = compute_metrics(records).overall
    assert (overall.tasks, overall.correct_rate, overall.pass_at_k["1"]) == (2, 0.5, 0.25)
    assert overall.failures == {"compile_error": {"other": 1}}  # of each task's first sample
