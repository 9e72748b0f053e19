"""Storing a verification: the task, the candidate, its builds, the verdict with evidence, raw timings."""

from __future__ import annotations

import functools
import json
from typing import Any

from .. import __version__
from ..resources import data_dir
from ..sandbox.extensions import Backend
from ..store import Build, Candidate, MemoryEntry, PolicyRecord, Store, TaskRecord, Timing, Verification, content_hash
from ..store.models import VerificationPurpose
from ..tasks import Task
from ..tasks.signature import task_signature
from .models import VerificationResult, as_number

# The shape of a verification's stored evidence; bumped when a field changes meaning, so readers can tell.
EVIDENCE_VERSION = 2


@functools.cache
def policy_record() -> PolicyRecord:
    """The verifier policy this process verifies under: every policy file under sandbox/ and the timing settings."""
    from .timing import TimingSettings

    files = {path.name: path.read_text() for path in sorted(data_dir("sandbox").glob("*.toml"))}
    content = {"files": files, "timing": TimingSettings().model_dump(mode="json")}
    return PolicyRecord(hash=content_hash(json.dumps(content, sort_keys=True))[:16], content=content)


def task_record(task: Task) -> TaskRecord:
    return TaskRecord(hash=task.hash, name=task.name, level=task.level, path=task.path, source=task.source,
                      declarations=task.declarations.model_dump())


def record_verification(store: Store, run_id: str, task: Task, source: str, result: VerificationResult, *,
                        backend: Backend, origin: str = "manual", parent_id: str | None = None,
                        round_index: int = 0, candidate: Candidate | None = None,
                        purpose: VerificationPurpose = "verify") -> Verification:
    """Writes everything in one transaction, so a crash leaves all of it or none.

    `candidate`: one already stored (the agent loop stores a candidate before verifying it); else one is added.
    The verification names its purpose, the policy it ran under (stored once by hash) and the harness version, and
    its evidence carries EVIDENCE_VERSION.
    """
    policy = policy_record()
    with store.transaction():
        store.put_policy(policy)
        store.upsert_task(task_record(task))
        if candidate is None:
            candidate = store.add(Candidate(run_id=run_id, task_hash=task.hash, parent_id=parent_id,
                                            round=round_index, origin=origin, backend=backend, source=source))
        for build in result.builds:
            store.add(Build(candidate_id=candidate.id, source_hash=build["key"], backend=backend, ok=build["ok"],
                            cached=build["cached"], seconds=build["seconds"], log=build.get("errors") or "",
                            ptxas=build.get("ptxas")))
        evidence = {**result.model_dump(mode="json"), "evidence_version": EVIDENCE_VERSION}
        verification = store.add(Verification(candidate_id=candidate.id, verdict=result.verdict, reason=result.reason,
                                              evidence=evidence, seed=result.seed, purpose=purpose,
                                              policy_hash=policy.hash, harness_version=__version__))
        if result.valid_speedup_eager is not None and run_id:
            timing = result.timing or {}
            store.put_memory(MemoryEntry(
                candidate_id=candidate.id, run_id=run_id, task_hash=task.hash, task=task.ref,
                signature=task_signature(task), source=source, backend=backend, verification_id=verification.id,
                device=_device_name(timing.get("environment") or {}, result.device),
                speedup_eager=result.valid_speedup_eager, ci_low=as_number(timing.get("ci_low")),
                ci_high=as_number(timing.get("ci_high"))))
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


def _device_name(environment: dict[str, Any], device: str) -> str:
    """The GPU's name on CUDA, the CPU's model on the CPU (as the timing recorded its environment)."""
    name = environment.get("gpu") if device.startswith("cuda") else environment.get("cpu_model")
    return str(name) if name else device
