"""`kernelwright export RUN --dataset out.jsonl`: a run's candidates as training data, one JSON object a line.

Each candidate carries the task's reference, the Coder's prompt and full reply (its reasoning where the provider
returned it apart from the text), the kernel, the verdict with its reason and the speedups with their intervals.
Rejected candidates are labelled with why (the static rule, the exploit the verifier caught), so reward-hack attempts
serve as negatives. Every line of a file has the same fields, so `datasets.load_dataset("json", ...)` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from ..store import Candidate, LLMCall, Store, Verification
from ..verify.models import as_number, speedup_counts
from .loaded import LoadedRun
from .records import load_records

Unit = Literal["candidate", "trajectory"]
# Verdicts that name an attempt to pass without doing the work: the verifier caught the trick.
CAUGHT = ("SUSPECT", "STATIC_REJECT")


def write_dataset(store: Store, run_id: str, out: Path, unit: Unit = "candidate") -> int:
    """Writes the run's candidates (or its trajectories, one per task and sample) to `out`; returns the lines."""
    rows = list(candidate_rows(store, run_id) if unit == "candidate" else trajectory_rows(store, run_id))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def candidate_rows(store: Store, run_id: str, loaded: LoadedRun | None = None) -> Iterator[dict[str, Any]]:
    loaded = loaded or LoadedRun(store, run_id)
    calls = {call.id: call for call in store.llm_calls(run_id=run_id)}
    for candidate in sorted(loaded.candidates, key=lambda c: (c.task_hash, c.sample, c.round)):
        yield _candidate_row(loaded, candidate, calls.get(candidate.llm_call_id or ""))


def trajectory_rows(store: Store, run_id: str) -> Iterator[dict[str, Any]]:
    loaded = LoadedRun(store, run_id)
    steps: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in candidate_rows(store, run_id, loaded):
        steps.setdefault((row["task_hash"], row["sample"]), []).append(
            {k: v for k, v in row.items() if k not in TRAJECTORY_KEYS})
    for record in load_records(store, run_id, loaded):
        task = loaded.task(record.task_hash)
        yield {"run_id": run_id, "task": record.task, "task_hash": record.task_hash, "level": record.level,
               "sample": record.sample, "reference": task.source if task else None,
               "best_candidate_id": record.best_candidate_id, "best_verdict": record.best_verdict,
               "best_speedup_eager": record.best_speedup_eager, "stop_reason": record.stop_reason,
               "steps": steps.get((record.task_hash, record.sample), [])}


# Fields a trajectory line holds once, not in each of its steps.
TRAJECTORY_KEYS = ("run_id", "task", "task_hash", "level", "sample", "reference")


def _candidate_row(loaded: LoadedRun, candidate: Candidate, call: LLMCall | None) -> dict[str, Any]:
    task = loaded.task(candidate.task_hash)
    verifications = loaded.verifications(candidate.id)
    first = next((v for v in verifications if v.purpose != "final"), verifications[0] if verifications else None)
    final = next((v for v in reversed(verifications) if v.purpose == "final"), None)
    if final is None and len(verifications) > 1 and verifications[0].purpose is None:
        final = verifications[-1]  # stored before purposes: a second verification is the final re-timing
    label, rejection = _label(first)
    return {
        "run_id": candidate.run_id, "task": task.ref if task else candidate.task_hash[:12],
        "task_hash": candidate.task_hash, "level": task.level if task else None, "sample": candidate.sample,
        "round": candidate.round, "candidate_id": candidate.id, "parent_id": candidate.parent_id,
        "origin": candidate.origin, "hint": candidate.hint, "inspiration_ids": candidate.inspiration_ids,
        "backend": candidate.backend, "reference": task.source if task else None,
        "model": call.model if call else None,
        "messages": [{"role": str(m.get("role")), "content": str(m.get("content"))} for m in call.messages]
        if call else [],
        "reply": call.response if call else None, "reasoning": call.reasoning if call else None,
        "kernel": candidate.source,
        **_verdict("", first), **_verdict("final_", final),
        "label": label, "rejection": rejection,
        "policy_hash": first.policy_hash if first else None,
        "harness_version": first.harness_version if first else None,
    }


def _verdict(prefix: str, verification: Verification | None) -> dict[str, Any]:
    evidence = verification.evidence if verification else {}
    timing = evidence.get("timing") or {}
    counts = verification is not None and speedup_counts(verification.verdict, evidence.get("perf"))
    return {f"{prefix}verdict": verification.verdict if verification else None,
            f"{prefix}reason": verification.reason if verification else None,
            f"{prefix}perf": evidence.get("perf"),
            f"{prefix}speedup_eager": as_number(timing.get("speedup_eager")) if counts else None,
            f"{prefix}ci_eager": [as_number(timing.get("ci_low")), as_number(timing.get("ci_high"))] if counts
            else [None, None],
            f"{prefix}speedup_compile": as_number(timing.get("speedup_compile")) if counts else None}


def _label(verification: Verification | None) -> tuple[str, str | None]:
    """(label, why it was rejected): positive (correct, a valid speedup), correct (no valid timing), caught (the
    verifier caught a trick or the gate a forbidden construct: the reason names which), failed, or unverified."""
    if verification is None:
        return "unverified", None
    if verification.verdict in CAUGHT:
        return "caught", f"{verification.verdict}: {verification.reason or 'unspecified'}"
    if verification.verdict == "PASS":
        perf = verification.evidence.get("perf")
        timed = as_number((verification.evidence.get("timing") or {}).get("speedup_eager")) is not None
        if speedup_counts(verification.verdict, perf) and timed:
            return "positive", None
        return "correct", "PERF_INVALID" if perf == "PERF_INVALID" else "not timed"
    return "failed", f"{verification.verdict}: {verification.reason or 'unspecified'}"
