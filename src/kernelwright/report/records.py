"""What an evaluation is measured from: one record per (task, sample), read back from the store."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..store import Candidate, Event, Store, TaskRecord, Verification
from ..store import SampleRecord as StoredSample
from ..verify.models import as_number, speedup_counts
from .loaded import LoadedRun

PS = (0.0, 1.0, 1.2, 1.5, 2.0)


class RoundRecord(BaseModel):
    """One Coder round of one sample. `verdict` None: the reply held no usable code (a failed round)."""

    round: int
    candidate_id: str | None = None
    verdict: str | None = None
    reason: str | None = None  # the verdict's sub-reason (static rule id, INCORRECT kind, ...)
    compile_log: str | None = None  # the trimmed compiler errors of a COMPILE_FAIL
    perf: str | None = None  # PERF_VALID / PERF_INVALID for a PASS that was timed
    speedup_eager: float | None = None  # from the round's own verification
    speedup_compile: float | None = None


class SampleRecord(BaseModel):
    """One sample (an independent Coder/Judge trajectory) of one task, with its final, re-timed best."""

    task: str  # levelN/name
    task_hash: str
    level: int | None = None
    sample: int = 0
    rounds: list[RoundRecord] = Field(default_factory=list)
    best_candidate_id: str | None = None
    best_verdict: str = "NO_CANDIDATE"  # the final verification's verdict (PASS, INCORRECT, ..., or NO_CANDIDATE)
    best_reason: str | None = None  # that verification's sub-reason
    best_speedup_eager: float | None = None  # final re-timing; None unless PASS and PERF_VALID
    best_speedup_compile: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_compile_low: float | None = None
    ci_compile_high: float | None = None
    stop_reason: str | None = None
    error: str | None = None  # the task could not be verified at all (harness or reference problem)
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0
    finished: bool = False  # False while the sample is still running (or was interrupted)

    @property
    def correct(self) -> bool:
        return self.best_verdict == "PASS"

    @property
    def compiled(self) -> bool:
        """Some candidate of this sample got past the build."""
        return any(r.verdict not in (None, "COMPILE_FAIL", "STATIC_REJECT") for r in self.rounds)


FINAL, NO_CODE_KINDS, STOP = "final_verification", ("reply_error", "no_code"), "stop"
LEVEL_REF = re.compile(r"^level(\d+)/")
Key = tuple[str, int]  # (task_hash, sample)


def load_records(store: Store, run_id: str, loaded: LoadedRun | None = None) -> list[SampleRecord]:
    """One record per (task, sample) of an agent or eval run, finished or not, in the run's task order.

    Tasks of `run.config["tasks"]` (and samples below `run.config["samples"]`) with no stored rows yet appear
    as NO_CANDIDATE records, so an interrupted run still counts every task it was asked to do.
    `loaded`: the run's rows already read for a report (else they are read here).
    """
    loaded = loaded if loaded is not None else LoadedRun(store, run_id)
    run = loaded.run
    rows = _RunRows(loaded)
    keys = dict.fromkeys(rows.keys())
    planned = _planned(loaded.tasks, run.config.get("tasks") or [], rows.task_hashes())
    rows.identities.update(planned)
    samples = run.config.get("samples")
    for task_hash in planned:
        for sample in range(samples if isinstance(samples, int) and samples > 0 else 1):
            keys.setdefault((task_hash, sample))
    order = {h: i for i, h in enumerate(dict.fromkeys([*planned, *(h for h, _ in keys)]))}
    return [rows.record(task_hash, sample) for task_hash, sample in sorted(keys, key=lambda k: (order[k[0]], k[1]))]


class _RunRows:
    """A run's rows, read once and grouped by (task_hash, sample)."""

    def __init__(self, loaded: LoadedRun) -> None:
        self.loaded = loaded
        self.identities: dict[str, tuple[str, int | None]] = {}
        self.candidates: dict[Key, list[Candidate]] = defaultdict(list)
        for candidate in loaded.candidates:
            self.candidates[(candidate.task_hash, candidate.sample)].append(candidate)
        # sums in SQL: a run's stored prompts are far larger than what a record needs of them
        self.calls: dict[Key, dict[str, Any]] = loaded.store.llm_totals_by_sample(loaded.run_id)
        self.events: dict[Key, list[Event]] = defaultdict(list)
        for event in loaded.events:
            task_hash = event.payload.get("task_hash")
            if task_hash:
                self.events[(task_hash, int(event.payload.get("sample") or 0))].append(event)

    def keys(self) -> list[Key]:
        return list(dict.fromkeys([*self.candidates, *self.calls, *self.events]))

    def task_hashes(self) -> set[str]:
        return {task_hash for task_hash, _ in self.keys()}

    def record(self, task_hash: str, sample: int) -> SampleRecord:
        key = (task_hash, sample)
        events = self.events.get(key, [])
        row = self.loaded.samples.get(key)
        outcome = row.outcome if row is not None and row.status == "finished" else None
        task, level = self._identity(task_hash, outcome or _first_payload(events))
        rounds = self._rounds(self.candidates.get(key, []), events)
        record = SampleRecord(task=task, task_hash=task_hash, level=level, sample=sample,
                              rounds=[rounds[r] for r in sorted(rounds)], finished=outcome is not None)
        final = self._final(row, events)
        if outcome is not None:
            _fill_from_outcome(record, outcome, final)
        elif final is not None:
            _fill_best(record, final.candidate_id, final.verdict, final.reason, final.evidence)
        else:
            _fill_from_rounds(record)
        if outcome is None and row is not None and row.stop_reason:
            record.stop_reason = row.stop_reason  # stopped by the budget or an interrupt, to be resumed
        elif outcome is None:
            stop = _last_payload(events, STOP).get("detail")
            record.stop_reason = str(stop).split(":", 1)[0] if stop else None
        calls = self.calls.get(key, {})
        record.llm_calls = calls.get("llm_calls", 0)
        record.input_tokens = calls.get("input_tokens", 0)
        record.output_tokens = calls.get("output_tokens", 0)
        record.cost_usd = calls.get("cost_usd", 0.0)
        if not record.wall_s:
            record.wall_s = _span_s([calls[k] for k in ("first_at", "last_at") if k in calls]
                                    + [e.created_at for e in events]
                                    + [c.created_at for c in self.candidates.get(key, [])])
        return record

    def _identity(self, task_hash: str, payload: dict[str, Any]) -> tuple[str, int | None]:
        stored = self.loaded.task(task_hash)
        if stored is not None:
            return stored.ref, stored.level
        if task_hash in self.identities:
            return self.identities[task_hash]
        task = str(payload.get("task") or task_hash[:12])
        level = payload.get("level")
        if level is None and (match := LEVEL_REF.match(task)):
            level = int(match.group(1))
        return task, level

    def _rounds(self, candidates: list[Candidate], events: list[Event]) -> dict[int, RoundRecord]:
        rounds: dict[int, RoundRecord] = {}
        for candidate in candidates:
            if candidate.round not in rounds:
                rounds[candidate.round] = self._round(candidate)
        for event in events:
            index = event.payload.get("round")
            if event.kind in NO_CODE_KINDS and isinstance(index, int) and index not in rounds:
                rounds[index] = RoundRecord(round=index, reason=event.kind)
        return rounds

    def _round(self, candidate: Candidate) -> RoundRecord:
        record = RoundRecord(round=candidate.round, candidate_id=candidate.id)
        verifications = self.loaded.verifications(candidate.id)
        if not verifications:
            return record
        first = next((v for v in verifications if v.purpose != "final"), verifications[0])  # the round's own
        timing = first.evidence.get("timing") or {}
        record.verdict, record.reason, record.perf = first.verdict, first.reason, first.evidence.get("perf")
        record.speedup_eager, record.speedup_compile = as_number(timing.get("speedup_eager")), as_number(timing.get("speedup_compile"))
        if first.verdict == "COMPILE_FAIL" or (first.verdict == "TIMEOUT" and first.reason == "build"):
            record.compile_log = first.evidence.get("error")  # the failed build's errors, as its build row holds them
        return record

    def _final(self, row: StoredSample | None, events: list[Event]) -> Verification | None:
        if row is not None and row.final_verification_id:
            return self.loaded.verification(row.final_verification_id)
        return self.loaded.verification(_last_payload(events, FINAL).get("verification_id"))


def _fill_from_outcome(record: SampleRecord, outcome: dict[str, Any], final: Verification | None) -> None:
    record.best_candidate_id = outcome.get("best_candidate_id")
    record.best_verdict = outcome.get("best_verdict") or "NO_CANDIDATE"
    record.best_speedup_eager = as_number(outcome.get("best_speedup_eager"))
    record.best_speedup_compile = as_number(outcome.get("best_speedup_compile"))
    record.ci_low, record.ci_high = as_number(outcome.get("ci_low")), as_number(outcome.get("ci_high"))
    record.stop_reason, record.error = outcome.get("stop_reason"), outcome.get("error")
    record.wall_s = as_number(outcome.get("wall_s")) or 0.0
    if final is not None and final.candidate_id == record.best_candidate_id:
        record.best_reason = final.reason
        if _timed(final.verdict, final.evidence.get("perf")):
            timing = final.evidence.get("timing") or {}
            record.ci_compile_low = as_number(timing.get("ci_compile_low"))
            record.ci_compile_high = as_number(timing.get("ci_compile_high"))
    else:
        best = next((r for r in record.rounds if r.candidate_id and r.candidate_id == record.best_candidate_id), None)
        record.best_reason = best.reason if best else None


def _fill_from_rounds(record: SampleRecord) -> None:
    """An unfinished sample: the best so far as the loop ranks it (fastest timed PASS, else the latest verdict)."""
    timed = [r for r in record.rounds if _timed(r.verdict, r.perf) and r.speedup_eager is not None]
    if timed:
        best = max(timed, key=lambda r: r.speedup_eager or 0.0)
        _fill_best(record, best.candidate_id, "PASS", best.reason, None)
        record.best_speedup_eager, record.best_speedup_compile = best.speedup_eager, best.speedup_compile
        return
    latest = next((r for r in reversed(record.rounds) if r.verdict is not None), None)
    if latest is not None:
        _fill_best(record, latest.candidate_id, latest.verdict or "", latest.reason, None)


def _fill_best(record: SampleRecord, candidate_id: str | None, verdict: str, reason: str | None,
               evidence: dict[str, Any] | None) -> None:
    record.best_candidate_id, record.best_verdict, record.best_reason = candidate_id, verdict, reason
    if evidence is not None and _timed(verdict, evidence.get("perf")):
        timing = evidence.get("timing") or {}
        record.best_speedup_eager, record.best_speedup_compile = (as_number(timing.get("speedup_eager")),
                                                                  as_number(timing.get("speedup_compile")))
        record.ci_low, record.ci_high = as_number(timing.get("ci_low")), as_number(timing.get("ci_high"))
        record.ci_compile_low = as_number(timing.get("ci_compile_low"))
        record.ci_compile_high = as_number(timing.get("ci_compile_high"))


def _planned(tasks: list[TaskRecord], paths: list[str], seen: set[str]) -> dict[str, tuple[str, int | None]]:
    """The run's task files, in order, as hash -> (task ref, level).

    A file's hash is that of its stored task row used by this run, else of its latest stored row, else of the
    file as it is now (loading it imports torch, so it comes last); a file found nowhere is left out.
    """
    by_path: dict[str, list[TaskRecord]] = defaultdict(list)
    for stored in tasks:
        if stored.path:
            by_path[stored.path].append(stored)
    planned: dict[str, tuple[str, int | None]] = {}
    for path in map(str, paths):
        known = by_path.get(path, [])
        used = [t for t in known if t.hash in seen]
        for task in used or known[-1:]:
            planned.setdefault(task.hash, (task.ref, task.level))
        if not known:
            loaded = _load(path)
            if loaded is not None:
                planned.setdefault(*loaded)
    return planned


def _load(path: str) -> tuple[str, tuple[str, int | None]] | None:
    from ..tasks import (  # imports torch: only for a file the store has never seen
        TaskSourceError,
        load_task,
    )

    try:
        task = load_task(Path(path), specs=False)
    except (TaskSourceError, OSError):  # a vanished or broken file: the task is left out, not the report
        return None
    return task.hash, (task.ref, task.level)


def _timed(verdict: str | None, perf: str | None) -> bool:
    return speedup_counts(verdict, perf)


def _last_payload(events: list[Event], kind: str) -> dict[str, Any]:
    return next((e.payload for e in reversed(events) if e.kind == kind), {})


def _first_payload(events: list[Event]) -> dict[str, Any]:
    return events[0].payload if events else {}


def _span_s(stamps: list[str]) -> float:
    """Seconds between the first and last stored row: a lower bound on the wall time of an unfinished sample."""
    times = []
    for stamp in stamps:
        try:
            times.append(datetime.fromisoformat(stamp))
        except ValueError:
            continue
    return (max(times) - min(times)).total_seconds() if len(times) > 1 else 0.0
