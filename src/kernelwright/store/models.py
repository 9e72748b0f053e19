"""Pydantic models of every record the store keeps, one per table."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backend import Backend

RunStatus = Literal["running", "finished", "failed", "interrupted"]
SampleStatus = Literal["running", "finished", "stopped"]  # stopped: by the budget or an interrupt, to be resumed
VerificationPurpose = Literal["round", "final", "verify"]
Role = Literal["coder", "judge"]
Subject = Literal["candidate", "eager", "compiled"]

_id_lock = threading.Lock()
_id_last = [0, 0]  # last millisecond, last counter


def new_id() -> str:
    """A 16-hex-char id: 11 chars of epoch milliseconds then 5 of counter, so ids sort by creation."""
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        last_ms, last_counter = _id_last
        if ms <= last_ms:
            ms, counter = last_ms, last_counter + 1
            if counter >= 1 << 20:
                ms, counter = ms + 1, int.from_bytes(os.urandom(2), "big")
        else:
            # random start keeps ids from concurrent processes apart
            counter = int.from_bytes(os.urandom(2), "big")
        _id_last[:] = [ms, counter]
    return f"{ms:011x}{counter:05x}"


def utc_now() -> str:
    """Current time as an ISO-8601 UTC string with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def content_hash(text: str) -> str:
    """SHA-256 hex digest of text (used for task and candidate source hashes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


class Environment(BaseModel):
    """The machine and software a run or timing happened on; unknown facts are None."""

    gpu_name: str | None = None
    gpu_count: int = 0
    driver_version: str | None = None
    cuda_version: str | None = None
    torch_version: str | None = None
    python_version: str | None = None
    platform: str | None = None
    kernelwright_version: str | None = None
    git_commit: str | None = None
    hostname: str | None = None


class Record(BaseModel):
    """Base of stored records: `table_name` and `primary_key` locate the row."""

    model_config = ConfigDict(extra="forbid")

    table_name: ClassVar[str]
    primary_key: ClassVar[str] = "id"


class Run(Record):
    table_name: ClassVar[str] = "runs"

    id: str = Field(default_factory=new_id)
    created_at: str = Field(default_factory=utc_now)
    kind: str = "run"
    status: RunStatus = "running"
    config: dict[str, Any] = Field(default_factory=dict)
    environment: Environment | None = None
    finished_at: str | None = None
    note: str | None = None
    active_s: float = 0.0  # seconds its earlier sessions ran (a wall-clock budget spans resumes)

    @field_validator("config", mode="before")
    @classmethod
    def _plain_config(cls, value: Any) -> Any:
        return _as_plain(value)


class TaskRecord(Record):
    table_name: ClassVar[str] = "tasks"
    primary_key: ClassVar[str] = "hash"

    hash: str
    name: str
    level: int | None = None
    path: str | None = None
    source: str
    declarations: dict[str, Any] = Field(default_factory=dict)

    @field_validator("declarations", mode="before")
    @classmethod
    def _plain_declarations(cls, value: Any) -> Any:
        return _as_plain(value)

    @property
    def ref(self) -> str:
        """`levelN/name` (just the name for a task of no level), as tasks.Task.ref spells it."""
        return f"level{self.level}/{self.name}" if self.level is not None else self.name


class Candidate(Record):
    table_name: ClassVar[str] = "candidates"

    id: str = Field(default_factory=new_id)
    run_id: str
    task_hash: str
    parent_id: str | None = None
    round: int = 0
    origin: str
    backend: Backend = "cuda"
    source: str
    source_hash: str = ""
    created_at: str = Field(default_factory=utc_now)
    llm_call_id: str | None = None  # the Coder call that wrote it
    judge_call_id: str | None = None  # the Judge call whose advice it followed
    sample: int = 0  # which trajectory of the task (evaluations with --samples K; a search's slot)
    hint: str | None = None  # the optimisation direction the Coder was given (beam, evolve)
    inspiration_ids: list[str] = Field(default_factory=list)  # other candidates the Coder was shown (evolve)

    @model_validator(mode="after")
    def _fill_source_hash(self) -> Candidate:
        if not self.source_hash:
            self.source_hash = content_hash(self.source)
        return self


class Build(Record):
    table_name: ClassVar[str] = "builds"

    id: str = Field(default_factory=new_id)
    candidate_id: str
    source_hash: str
    backend: Backend = "cuda"
    ok: bool
    cached: bool = False
    seconds: float
    command: str = ""
    log: str = ""
    ptxas: str | None = None
    created_at: str = Field(default_factory=utc_now)


class Verification(Record):
    table_name: ClassVar[str] = "verifications"

    id: str = Field(default_factory=new_id)
    candidate_id: str
    verdict: str
    reason: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    created_at: str = Field(default_factory=utc_now)
    purpose: VerificationPurpose | None = None  # None: stored before purposes were recorded
    policy_hash: str | None = None  # the verifier policy it ran under (`policies`)
    harness_version: str | None = None  # the kernelwright version that verified it


class Timing(Record):
    """Raw timing samples and their summary; eager/compiled baselines link by task_hash."""

    table_name: ClassVar[str] = "timings"

    id: str = Field(default_factory=new_id)
    run_id: str | None = None
    task_hash: str | None = None
    candidate_id: str | None = None
    verification_id: str | None = None
    subject: Subject
    unit: Literal["ms"] = "ms"
    samples: list[float] = Field(default_factory=list)
    median: float
    iqr: float
    n: int
    environment: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=utc_now)

    @field_validator("environment", mode="before")
    @classmethod
    def _plain_environment(cls, value: Any) -> Any:
        return _as_plain(value)


class Profile(Record):
    table_name: ClassVar[str] = "profiles"

    id: str = Field(default_factory=new_id)
    candidate_id: str
    tool: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    raw: str | None = None
    created_at: str = Field(default_factory=utc_now)
    fallback: str | None = None  # why the preferred profiler was not used, when it was not


class LLMCall(Record):
    table_name: ClassVar[str] = "llm_calls"

    id: str = Field(default_factory=new_id)
    run_id: str
    role: Role
    model: str
    messages: list[dict[str, Any]] = Field(default_factory=list)
    response: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    retries: int = 0
    error: str | None = None
    created_at: str = Field(default_factory=utc_now)
    task_hash: str | None = None
    round: int | None = None
    purpose: str | None = None  # seed, repair, optimise (Coder); correction, optimisation (Judge)
    subject_id: str | None = None  # the candidate the call was shown
    sequence: int | None = None  # order of this role's calls within the run's task (and sample)
    sample: int = 0
    prompt_hash: str | None = None  # of `messages`: a resumed run replays this reply only to the same prompt
    reasoning: str | None = None  # the model's reasoning, where the provider returned it apart from `response`


class Event(Record):
    """A free-form step of a run; `id` is assigned by the database on insert."""

    table_name: ClassVar[str] = "events"

    id: int | None = None
    run_id: str
    created_at: str = Field(default_factory=utc_now)
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict)


class SampleRecord(Record):
    """One (task, sample) of a run: where it stands and, once finished, its outcome. Unique per key."""

    table_name: ClassVar[str] = "samples"

    id: str = Field(default_factory=new_id)
    run_id: str
    task_hash: str
    sample: int = 0
    status: SampleStatus = "running"
    best_candidate_id: str | None = None
    final_verification_id: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    elapsed_s: float = 0.0  # over every session that worked on it
    outcome: dict[str, Any] = Field(default_factory=dict)  # the runner's TaskOutcome
    updated_at: str = Field(default_factory=utc_now)


class PolicyRecord(Record):
    """The verifier policy a verification ran under (tolerances, attribution, limits, rules, timing settings), by
    hash, so a report of an old run shows that run's policy rather than today's."""

    table_name: ClassVar[str] = "policies"
    primary_key: ClassVar[str] = "hash"

    hash: str
    content: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=utc_now)


class MemoryEntry(Record):
    """A verified winner kept across runs: its task's signature, the kernel and the speedup that counted."""

    table_name: ClassVar[str] = "memory"

    id: str = Field(default_factory=new_id)
    candidate_id: str  # one entry per candidate
    run_id: str
    task_hash: str
    task: str  # the task's ref
    signature: dict[str, Any] = Field(default_factory=dict)  # operators and dtype (tasks.signature)
    source: str
    backend: str
    device: str | None = None  # the device the speedup was measured on
    speedup_eager: float
    ci_low: float | None = None
    ci_high: float | None = None
    verification_id: str
    created_at: str = Field(default_factory=utc_now)


class Program(Record):
    """A verified candidate in a task's evolve program database: its speedup and behaviour descriptor."""

    table_name: ClassVar[str] = "programs"

    id: str = Field(default_factory=new_id)
    run_id: str
    task_hash: str
    candidate_id: str  # one row per candidate
    sample: int
    round: int
    speedup_eager: float
    bound: str  # where it sits on the roofline: memory, compute, or unknown (not profiled)
    hint: str  # the optimisation it was asked to apply; "none" for a seed
    cell: str  # the behaviour cell, "bound/hint": one elite per cell is kept for parents
    created_at: str = Field(default_factory=utc_now)


def prompt_hash(messages: list[Any]) -> str:
    """A prompt's identity: the hash of its messages as JSON (role and content)."""
    plain = [_as_plain(m) for m in messages]
    return content_hash(json.dumps(plain, sort_keys=True, ensure_ascii=False, default=str))


RECORD_TYPES: tuple[type[Record], ...] = (
    Run, TaskRecord, Candidate, Build, Verification, Timing, Profile, LLMCall, Event, SampleRecord, PolicyRecord,
    MemoryEntry, Program,
)
