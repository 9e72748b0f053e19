"""One task's steps in one run, each written to the store as it finishes and read back instead of redone.

Every step is keyed so that re-running the loop over the same run (after Ctrl-C or a crash) finds what was
already done: an LLM call by (task, sample, role, sequence), checked against its round, purpose and prompt hash; a
candidate by its round, a verification and a profile by their candidate. The store's UNIQUE indexes stand behind
these keys. The loop therefore needs no separate resume logic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..llm import ChatModel, Completion, Message
from ..llm.models import CallContext
from ..profile.models import ProfileReport
from ..profile.record import profile_record
from ..store import Candidate, Event, LLMCall, Store, Verification, prompt_hash
from ..tasks import Task
from ..verify.models import VerificationResult
from ..verify.record import record_verification, task_record

FINAL = "final_verification"


class ResumeMismatch(Exception):
    """A stored reply was asked a different question: the prompt templates or the loop changed mid-run."""


class Trajectory:
    def __init__(self, store: Store, run_id: str, task: Task, backend: str, sample: int = 0,
                 events: list[Event] | None = None) -> None:
        """`events`: this task and sample's stored events when the caller read the run's events already (a runner
        reads them once for all its samples), else they are read here; the events this trajectory writes are
        appended to that list."""
        self.store, self.run_id, self.task, self.backend, self.sample = store, run_id, task, backend, sample
        store.upsert_task(task_record(task))
        self.events = events if events is not None else [e for e in store.events(run_id=run_id) if self.mine(e)]
        self._noted: set[tuple[str, object]] = set()
        self._finals: dict[str, str] = {}  # candidate id -> its final verification's id (the latest)
        for event in self.events:
            self._remember(event)
        self._calls = {(c.role, c.sequence): c for c in store.llm_calls(run_id=run_id, task_hash=task.hash, sample=sample)
                       if c.error is None and c.sequence is not None}
        self._candidates = {c.round: c for c in store.candidates(run_id=run_id, task_hash=task.hash)
                            if c.sample == sample}

    def context(self, role: str, purpose: str, round_index: int, sequence: int, subject_id: str | None) -> CallContext:
        return CallContext(run_id=self.run_id, role=role, purpose=purpose, task_hash=self.task.hash, task=self.task.ref,
                           round=round_index, subject_id=subject_id, sequence=sequence,
                           sample=self.sample)  # type: ignore[arg-type]

    def ask(self, model: ChatModel, messages: list[Message], context: CallContext,
            before_call: Callable[[], None] | None = None) -> tuple[Completion, bool]:
        """The reply to this call, and whether it was read back from an earlier session of the run. `before_call`
        runs only when the model is really called (a budget reserving the call)."""
        stored = self._calls.get((context.role, context.sequence))
        if stored is not None:
            self._check_replay(stored, messages, context)
            return _completion(stored), True
        if before_call is not None:
            before_call()
        return model.complete(messages, context), False

    def _check_replay(self, stored: LLMCall, messages: list[Message], context: CallContext) -> None:
        asked = prompt_hash([m.model_dump() for m in messages])
        same_step = (stored.round, stored.purpose) == (context.round, context.purpose)
        if same_step and stored.prompt_hash in (None, asked):  # None: stored before prompts were hashed
            return
        what = ("its prompt differs from the stored one" if same_step else
                f"the stored call {context.sequence} was round {stored.round}'s {stored.purpose}")
        raise ResumeMismatch(
            f"cannot resume run {self.run_id}: {self.task.ref} sample {self.sample}, round {context.round}, "
            f"{context.role} call {context.sequence} ({context.purpose}): {what}; the prompt templates or the loop "
            "changed since the run began. Resume it with the kernelwright version that started it, or start a new run")

    def candidate(self, round_index: int) -> Candidate | None:
        return self._candidates.get(round_index)

    def add_candidate(self, round_index: int, source: str, parent: Candidate | None, origin: str,
                      llm_call_id: str | None, judge_call_id: str | None, hint: str | None = None,
                      inspiration_ids: list[str] | None = None) -> Candidate:
        candidate = self.store.add(Candidate(
            run_id=self.run_id, task_hash=self.task.hash, parent_id=parent.id if parent else None, round=round_index,
            origin=origin, backend=self.backend, source=source, llm_call_id=llm_call_id,  # type: ignore[arg-type]
            judge_call_id=judge_call_id, sample=self.sample, hint=hint, inspiration_ids=inspiration_ids or []))
        self._candidates[round_index] = candidate
        return candidate

    def verification(self, candidate: Candidate, run: Callable[[], VerificationResult]) -> tuple[VerificationResult, bool]:
        stored = self._first_verification(candidate)
        if stored is not None:
            return VerificationResult.model_validate(stored.evidence), True
        result = run()
        record_verification(self.store, self.run_id, self.task, candidate.source, result,
                            backend=self.backend, candidate=candidate, purpose="round")  # type: ignore[arg-type]
        return result, False

    def final_verification(self, candidate: Candidate, run: Callable[[], VerificationResult]) -> VerificationResult:
        """The best candidate verified and timed again in fresh processes; stored as its second verification."""
        done = self._finals.get(candidate.id)
        if done:
            stored = self.store.get(Verification, done)
            if stored is not None:
                return VerificationResult.model_validate(stored.evidence)
        result = run()
        with self.store.transaction():
            verification = record_verification(self.store, self.run_id, self.task, candidate.source, result,
                                               backend=self.backend, candidate=candidate,  # type: ignore[arg-type]
                                               purpose="final")
            self.event(FINAL, candidate_id=candidate.id, verification_id=verification.id, verdict=result.verdict)
        return result

    def final_id(self, candidate_id: str) -> str | None:
        """The id of a candidate's final verification, once there is one."""
        return self._finals.get(candidate_id)

    def profile(self, candidate: Candidate, run: Callable[[], ProfileReport]) -> ProfileReport:
        stored = self.store.profiles(candidate_id=candidate.id)
        if stored:
            return ProfileReport.model_validate(stored[0].metrics)
        report = run()
        self.store.add(profile_record(report, candidate.id))
        return report

    def event(self, kind: str, **payload: Any) -> None:
        event = self.store.add(Event(run_id=self.run_id, kind=kind, payload={
            "task": self.task.ref, "task_hash": self.task.hash, "sample": self.sample, **payload}))
        self.events.append(event)
        self._remember(event)

    def _remember(self, event: Event) -> None:
        if "round" in event.payload:
            self._noted.add((event.kind, event.payload["round"]))
        if event.kind == FINAL and event.payload.get("candidate_id") and event.payload.get("verification_id"):
            self._finals[event.payload["candidate_id"]] = event.payload["verification_id"]

    def mine(self, event: Event) -> bool:
        """The event belongs to this task and sample (events of runs before samples existed are sample 0)."""
        return event.payload.get("task_hash") == self.task.hash and event.payload.get("sample", 0) == self.sample

    def note(self, kind: str, round_index: int, detail: str) -> None:
        """A round's outcome that has no row of its own (no usable code, no reply, the stop); stored once."""
        if (kind, round_index) not in self._noted:
            self.event(kind, round=round_index, detail=detail)

    def _first_verification(self, candidate: Candidate) -> Verification | None:
        stored = self.store.verifications(candidate_id=candidate.id)
        return stored[0] if stored else None


def _completion(call: LLMCall) -> Completion:
    return Completion(text=call.response, model=call.model, input_tokens=call.tokens_in, output_tokens=call.tokens_out,
                      cost_usd=call.cost_usd, latency_s=call.latency_s, retries=call.retries, call_id=call.id,
                      reasoning=call.reasoning)
