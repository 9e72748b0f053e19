"""A run's trajectory as the store holds it, round by round, for `kernelwright show` and reports."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, Field

from ..store import Candidate, LLMCall, Run, Store, StoreError, TaskRecord
from ..verify.flags import messages
from ..verify.models import VerificationResult
from .loaded import LoadedRun
from .tree import TreeNode, task_tree


class CallView(BaseModel):
    id: str
    role: str
    purpose: str | None
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    latency_s: float
    retries: int
    error: str | None = None


class RoundView(BaseModel):
    round: int
    sample: int = 0
    candidate_id: str | None = None
    parent_id: str | None = None
    origin: str | None = None
    hint: str | None = None  # the optimisation direction the Coder was given
    diff: str | None = None  # unified diff from the parent candidate (the whole source for a seed)
    build_ok: bool | None = None
    build_seconds: float | None = None
    build_cached: bool | None = None
    compiled_seconds: float | None = None  # what compiling a cached build took when it was built
    build_log: str | None = None
    ptxas: str | None = None
    verdict: str | None = None
    reason: str | None = None
    summary: str | None = None
    failures: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    perf: str | None = None
    timing: dict[str, Any] = Field(default_factory=dict)  # candidate/eager/compile ms, speedups, interval
    profile: list[str] = Field(default_factory=list)  # profiler highlights
    profile_fallback: str | None = None
    advice: str | None = None  # the Judge's advice this candidate followed
    notes: list[str] = Field(default_factory=list)  # no usable code, reply errors, the stop
    calls: list[CallView] = Field(default_factory=list)
    final: bool = False  # the re-timed best

    @property
    def tokens(self) -> tuple[int, int]:
        return sum(c.tokens_in for c in self.calls), sum(c.tokens_out for c in self.calls)

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd or 0.0 for c in self.calls)


class TaskView(BaseModel):
    task: str
    task_hash: str
    level: int | None
    rounds: list[RoundView]
    outcome: dict[str, Any] | None = None
    tree: list[TreeNode] = Field(default_factory=list)  # the roots of its search tree, over all samples


class RunView(BaseModel):
    run: Run
    tasks: list[TaskView]


FINAL_KEY = 10_000  # the final re-timing sorts after every round of its sample
TIMING_KEYS = ("candidate_ms", "eager_ms", "compile_ms", "speedup_eager", "ci_low", "ci_high", "speedup_compile",
               "ci_compile_low", "ci_compile_high", "own_kernel_share", "method", "remeasured")


def load_run(store: Store, run_id: str, task: str | None = None, loaded: LoadedRun | None = None) -> RunView:
    """The run's trajectory, task by task (only `task` when given); `loaded`: its rows already read for a report."""
    loaded = loaded if loaded is not None else LoadedRun(store, run_id)
    candidates, calls, events = loaded.candidates, loaded.llm_calls, loaded.events
    hashes = list(dict.fromkeys([c.task_hash for c in candidates] + [c.task_hash for c in calls if c.task_hash]
                                + [e.payload["task_hash"] for e in events if e.payload.get("task_hash")]))
    views = []
    for task_hash in hashes:
        record = loaded.task(task_hash)
        name = record.name if record else task_hash[:12]
        ref = record.ref if record else name
        if task is not None and task not in (name, ref, task_hash):
            continue
        views.append(_task_view(loaded, ref, task_hash, record, candidates, calls, events))
    if task is not None and not views:
        raise StoreError(f"run {run_id} has no task {task!r}")
    return RunView(run=loaded.run, tasks=views)


def _task_view(loaded: LoadedRun, ref: str, task_hash: str, record: TaskRecord | None, candidates: list[Candidate],
               calls: list[LLMCall], events: list[Any]) -> TaskView:
    mine = [c for c in candidates if c.task_hash == task_hash]
    by_id = {c.id: c for c in mine}
    my_calls = [c for c in calls if c.task_hash == task_hash]
    my_events = [e for e in events if e.payload.get("task_hash") == task_hash]
    rounds: dict[tuple[int, int], RoundView] = {}
    for candidate in mine:
        view = rounds.setdefault((candidate.sample, candidate.round),
                                 RoundView(round=candidate.round, sample=candidate.sample))
        _fill_candidate(loaded, view, candidate, by_id.get(candidate.parent_id or ""))
        judge = next((c for c in my_calls if c.id == candidate.judge_call_id), None)
        view.advice = _advice(judge) if judge else None
    for call in my_calls:
        key = (call.sample, call.round or 0)
        rounds.setdefault(key, RoundView(round=key[1], sample=key[0])).calls.append(CallView(
            id=call.id, role=call.role, purpose=call.purpose, model=call.model, tokens_in=call.tokens_in,
            tokens_out=call.tokens_out, cost_usd=call.cost_usd, latency_s=call.latency_s, retries=call.retries,
            error=call.error))
    finished = [row for (h, _), row in sorted(loaded.samples.items()) if h == task_hash and row.status == "finished"]
    outcome = finished[-1].outcome if finished else None
    for event in my_events:
        if event.kind == "final_verification":
            final = _final_round(loaded, event.payload, by_id)
            if final is not None:
                rounds[(final.sample, FINAL_KEY + final.round)] = final
        elif "round" in event.payload:
            key = _note_key(rounds, event.payload.get("sample", 0), event.payload["round"], event.kind)
            rounds.setdefault(key, RoundView(round=key[1], sample=key[0])).notes.append(
                f"{event.kind}: {event.payload.get('detail', '')}")
    return TaskView(task=ref, task_hash=task_hash, level=record.level if record else None,
                    rounds=[rounds[k] for k in sorted(rounds)], outcome=outcome, tree=task_tree(loaded, mine))


def _note_key(rounds: dict[tuple[int, int], RoundView], sample: int, round_index: int, kind: str) -> tuple[int, int]:
    """Where a note goes; a stop noted past the last round (as older runs stored it) goes on the last round that ran."""
    ran = [k for k in rounds if k[0] == sample and k[1] < FINAL_KEY]
    if kind == "stop" and (sample, round_index) not in rounds and ran and max(ran)[1] < round_index:
        return max(ran)
    return sample, round_index


def _advice(call: LLMCall) -> str:
    """The Judge's advice as the Coder read it: parsed when it parsed, else the reply itself."""
    from ..agents.judge import JudgeParseError, advice_text, parse_verdict

    kind = "optimisation" if call.purpose == "optimisation" else "correction"
    try:
        return advice_text(parse_verdict(call.response, kind)) or call.response.strip()
    except JudgeParseError:
        return call.response.strip()


def _fill_candidate(loaded: LoadedRun, view: RoundView, candidate: Candidate, parent: Candidate | None) -> None:
    view.candidate_id, view.parent_id, view.origin = candidate.id, candidate.parent_id, candidate.origin
    view.hint = getattr(candidate, "hint", None)
    before = parent.source.splitlines(keepends=True) if parent else []
    view.diff = "".join(difflib.unified_diff(before, candidate.source.splitlines(keepends=True),
                                             fromfile=f"round {parent.round}" if parent else "/dev/null",
                                             tofile=f"round {candidate.round}"))
    builds = loaded.builds(candidate.id)
    if builds:
        view.build_ok = all(b.ok for b in builds)
        view.build_seconds = sum(b.seconds for b in builds)
        view.build_cached = all(b.cached for b in builds)
        view.build_log = "\n".join(b.log for b in builds if b.log) or None
        view.ptxas = "\n".join(b.ptxas for b in builds if b.ptxas) or None
    verifications = loaded.verifications(candidate.id)
    if verifications:
        _fill_result(view, VerificationResult.model_validate(verifications[0].evidence))
    if builds and view.build_cached:
        view.compiled_seconds = _compiled_seconds(loaded, builds, verifications[0].evidence if verifications else {})
    profiles = loaded.profiles(candidate.id)
    if profiles:
        from ..profile.models import ProfileReport

        report = ProfileReport.model_validate(profiles[0].metrics)
        view.profile = report.highlights()
        view.profile_fallback = report.fallback


def _compiled_seconds(loaded: LoadedRun, builds: list[Any], evidence: dict[str, Any]) -> float | None:
    """A cached build's compile time: from the verification's build rows, else from the build that filled the cache."""
    recorded = [b.get("compile_seconds") for b in evidence.get("builds") or []]
    if recorded and all(isinstance(s, (int, float)) for s in recorded):
        return float(sum(recorded))
    total = 0.0
    for build in builds:
        compiled = [b.seconds for b in loaded.store.builds(source_hash=build.source_hash) if not b.cached]
        if not compiled:
            return None
        total += compiled[0]
    return total


def _fill_result(view: RoundView, result: VerificationResult) -> None:
    view.verdict, view.reason, view.summary, view.perf = result.verdict, result.reason, result.summary, result.perf
    view.flags = messages(result.flags)
    if result.correctness is not None:
        view.failures = [f.line() for f in result.correctness.failures[:5]]
    timing = result.timing or {}
    view.timing = {key: timing[key] for key in TIMING_KEYS if timing.get(key) is not None}


def _final_round(loaded: LoadedRun, payload: dict[str, Any], by_id: dict[str, Candidate]) -> RoundView | None:
    candidate = by_id.get(payload.get("candidate_id", ""))
    verification = loaded.verification(payload.get("verification_id"))
    if candidate is None or verification is None:
        return None
    view = RoundView(round=candidate.round, sample=candidate.sample, candidate_id=candidate.id,
                     origin="final re-timing", final=True)
    _fill_result(view, VerificationResult.model_validate(verification.evidence))
    return view
