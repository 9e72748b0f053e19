"""Storing a verification: the task, the candidate, its builds, the verdict with evidence, raw timings."""

from __future__ import annotations

from typing import Any

from ..sandbox.extensions import Backend
from ..store import Build, Candidate, Store, TaskRecord, Timing, Verification
from ..tasks import Task
from .models import VerificationResult


def task_record(task: Task) -> TaskRecord:
    return TaskRecord(hash=task.hash, name=task.name, level=task.level, path=task.path, source=task.source,
                      declarations=task.declarations.model_dump())


def record_verification(store: Store, run_id: str, task: Task, source: str, result: VerificationResult, *,
                        backend: Backend, origin: str = "manual", parent_id: str | None = None,
                        round_index: int = 0, candidate: Candidate | None = None) -> Verification:
    """Writes everything in one transaction, so a crash leaves all of it or none.

    `candidate`: one already stored (the agent loop stores a candidate before verifying it); else one is added.
    """
    with store.transaction():
        store.upsert_task(task_record(task))
        if candidate is None:
            candidate = store.add(Candidate(run_id=run_id, task_hash=task.hash, parent_id=parent_id,
                                            round=round_index, origin=origin, backend=backend, source=source))
        for build in result.builds:
            store.add(Build(candidate_id=candidate.id, source_hash=build["key"], backend=backend, ok=build["ok"],
                            cached=build["cached"], seconds=build["seconds"], log=build.get("errors") or "",
                            ptxas=build.get("ptxas")))
        verification = store.add(Verification(candidate_id=candidate.id, verdict=result.verdict, reason=result.reason,
                                              evidence=result.model_dump(mode="json"), seed=result.seed))
        for subject, stats in _subjects(result.timing):
            store.add(Timing(run_id=run_id, task_hash=task.hash, candidate_id=candidate.id,
                             verification_id=verification.id, subject=STORED_SUBJECT.get(subject, subject), samples=stats.get("samples_ms", []),
                             median=stats["median_ms"], iqr=stats["iqr_ms"], n=stats["n"],
                             environment=(result.timing or {}).get("environment", {})))
    return verification


STORED_SUBJECT = {"compile": "compiled"}


def _subjects(timing: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    if not timing:
        return []
    return [(name, stats) for name, stats in (timing.get("subjects") or {}).items() if stats]
