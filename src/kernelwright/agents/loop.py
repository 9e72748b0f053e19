"""The Coder / Judge loop for one task: seed, then rounds of Judge then Coder, refining from the best candidate.

Every step goes through `Trajectory`, which stores it as it finishes and hands back what an earlier session of the
same run already did, so a resumed run walks the same path without redoing a call, a build or a verification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from ..llm import ChatModel, Completion, RepliesExhausted, ReplyError
from ..profile.models import ProfileReport
from ..store import Candidate
from ..verify.models import VerificationResult
from .budget import Budget, Interrupted, NearRoofline, Plateau, RoundsDone, ScriptExhausted, StopLoop, TooManyFailures
from .coder import Inspiration, coder_messages, extract_source
from .evidence import evidence_from
from .hints import Hint
from .judge import Advice, FreeTextAdvice, JudgeParseError, judge_messages, parse_verdict, reformat_messages
from .trajectory import Trajectory


NOTED = ("no_code", "reply_error", "stop")


class LoopConfig(BaseModel):
    rounds: int = 5  # Coder rounds, the seed included
    refine_from: Literal["best", "latest"] = "best"
    plateau_rounds: int = 3  # stop after this many rounds in a row without a better passing candidate
    min_gain: float = 0.02  # what counts as better: 2% more speedup over eager
    roofline_stop: float = 0.9  # stop once the best candidate reaches this fraction of its roof
    max_failed_replies: int = 3  # rounds in a row without a usable reply before the task is given up


class Step(BaseModel):
    """One thing that happened, for the progress view."""

    task: str
    sample: int = 0
    round: int
    kind: str  # coder, judge, verdict, profile, no_code, reply_error, stop, final
    detail: str = ""
    verdict: str | None = None
    speedup: float | None = None
    resumed: bool = False


class Tried(BaseModel):
    candidate: Candidate
    result: VerificationResult
    profile: ProfileReport | None = None

    @property
    def speedup(self) -> float | None:
        return self.result.valid_speedup_eager


class Plan(BaseModel, arbitrary_types_allowed=True):
    """What a search strategy asks of one sample's round: the candidate to start from (None: seed, or repair the
    sample's own latest when nothing passed yet), the direction to explore and other candidates to show."""

    parent: Tried | None = None
    hint: Hint | None = None
    inspirations: list[Tried] = []


class Services(BaseModel, arbitrary_types_allowed=True):
    """What the loop calls out to; tests and the runner provide them."""

    coder: Any  # ChatModel
    judge: Any  # ChatModel
    verify: Callable[[str], VerificationResult]
    profile: Callable[[str, VerificationResult], ProfileReport] | None
    hardware: dict[str, Any]
    backend: str
    memory: Callable[[Any], list[Any]] | None = None  # task -> past winners of similar tasks for the seed prompt


class TaskLoop:
    def __init__(self, trajectory: Trajectory, services: Services, config: LoopConfig, budget: Budget,
                 on_step: Callable[[Step], None] = lambda step: None) -> None:
        self.t, self.s, self.config, self.budget, self.on_step = trajectory, services, config, budget, on_step
        self.tried: list[Tried] = []
        self.sequence = {"coder": 0, "judge": 0}
        self.failed_replies = 0
        self.rounds_since_gain = 0

    def run(self) -> str:
        """Runs rounds until a stop; returns the stop reason."""
        return run_rounds(self.config.rounds, self.round, lambda reached, stop: self.note_stop(reached, stop))

    def note_stop(self, reached: int, stop: StopLoop) -> None:
        # noted on the last round that ran; an interruption is no outcome, and a resumed run goes on from there
        self.step(reached, "stop", f"{stop.reason}: {stop}", noted=not isinstance(stop, Interrupted))

    def round(self, round_index: int, plan: Plan | None = None) -> Tried | None:
        """One Coder round from the loop's own best (chain) or from `plan` (a search strategy); the candidate tried,
        or None when the reply held no usable code."""
        parent = self.parent() if plan is None or (plan.parent is None and self.tried) else plan.parent
        hint = plan.hint if plan is not None else None
        if parent is not None and not parent.result.passed:
            hint = None  # a repair fixes what failed: no new direction
        # a search's direction replaces the Judge's plan for an optimisation; a repair still gets the Judge's diagnosis
        advice, judge_call = (self.judge(parent, round_index) if parent and hint is None else (None, None))
        self.budget.check()
        kind = "seed" if parent is None else ("optimise" if parent.result.passed else "repair")
        inspirations = plan.inspirations if plan is not None and kind != "repair" else []
        messages = coder_messages(kind, task=self.t.task, backend=self.s.backend, hardware=self.s.hardware,
                                  previous_source=parent.candidate.source if parent else None,
                                  evidence=evidence_from(parent.result) if parent else None, advice=advice,
                                  profile=parent.profile if parent else None, last_attempt=self.last_attempt(parent),
                                  examples=self.s.memory(self.t.task) if kind == "seed" and self.s.memory else None,
                                  hint=hint, inspirations=[_inspiration(t) for t in inspirations])
        reply = self.ask(self.s.coder, messages, "coder", kind, round_index, parent)
        source = extract_source(reply.text) if reply else None
        if source is None:
            self.failed_replies += 1
            self.step(round_index, "no_code", "the reply had no usable ModelNew code" if reply else "no reply")
            if self.failed_replies >= self.config.max_failed_replies:
                raise TooManyFailures(f"{self.failed_replies} rounds in a row without usable code")
            return None
        self.failed_replies = 0
        candidate = self.t.candidate(round_index) or self.t.add_candidate(
            round_index, source, parent.candidate if parent else None, origin=f"coder:{kind}",
            llm_call_id=reply.call_id, judge_call_id=judge_call, hint=hint.name if hint else None,
            inspiration_ids=[t.candidate.id for t in inspirations])
        self.budget.check_interrupt()
        result, stored = self.t.verification(candidate, lambda: self.s.verify(candidate.source))
        tried = Tried(candidate=candidate, result=result)
        self.step(round_index, "verdict", result.summary.splitlines()[0] if result.summary else "",
                  verdict=result.verdict, speedup=tried.speedup, resumed=stored)
        if result.passed and self.s.profile is not None:
            self.budget.check_interrupt()
            tried.profile = self.t.profile(candidate, lambda: self.s.profile(candidate.source, result))
            self.step(round_index, "profile", tried.profile.tool + (f" ({tried.profile.fallback})" if tried.profile.fallback else ""))
        if plan is None:
            self.record(tried)
        else:
            self.tried.append(tried)  # a search judges progress over all its samples
        return tried

    def judge(self, parent: Tried, round_index: int) -> tuple[Advice | None, str | None]:
        kind = "optimisation" if parent.result.passed else "correction"
        self.budget.check()
        messages = judge_messages(kind, task=self.t.task, backend=self.s.backend, hardware=self.s.hardware,
                                  source=parent.candidate.source, evidence=evidence_from(parent.result),
                                  profile=parent.profile)
        reply = self.ask(self.s.judge, messages, "judge", kind, round_index, parent)
        if reply is None:
            return None, None
        try:
            return parse_verdict(reply.text, kind), reply.call_id
        except JudgeParseError as error:
            retry = self.ask(self.s.judge, reformat_messages(messages, reply.text, str(error), kind), "judge",
                             "reformat", round_index, parent)
            if retry is not None:
                try:
                    return parse_verdict(retry.text, kind), retry.call_id
                except JudgeParseError:
                    pass
            self.step(round_index, "judge", "advice did not parse; passed on as free text")
            return (FreeTextAdvice(text=reply.text) if reply.text.strip() else None), reply.call_id

    def ask(self, model: ChatModel, messages: list, role: str, purpose: str, round_index: int,
            parent: Tried | None) -> Completion | None:
        context = self.t.context(role, purpose, round_index, self.sequence[role],
                                 parent.candidate.id if parent else None)
        self.sequence[role] += 1
        coder = role == "coder"
        try:
            reply, stored = self.t.ask(model, messages, context,
                                       before_call=self.budget.reserve_coder_call if coder else None)
        except RepliesExhausted as error:
            if coder:
                self.budget.release_coder_call()  # the script had no reply: no call was made
            raise ScriptExhausted(str(error)) from None
        except ReplyError as error:
            if coder:
                self.budget.settle_coder_call(0, 0, 0.0)
            self.step(round_index, "reply_error", str(error))
            return None
        if coder and not stored:
            self.budget.settle_coder_call(reply.input_tokens, reply.output_tokens, reply.cost_usd)
        elif not stored:
            self.budget.charge(reply.input_tokens, reply.output_tokens, reply.cost_usd, role)
        self.step(round_index, role, purpose, resumed=stored)
        return reply

    def parent(self) -> Tried | None:
        if not self.tried:
            return None
        if self.config.refine_from == "latest":
            return self.tried[-1]
        return self.best() or self.tried[-1]

    def last_attempt(self, parent: Tried | None) -> str | None:
        """The previous round's candidate when it started from the same parent and did not replace it."""
        last = self.tried[-1] if self.tried else None
        if parent is None or last is None or last is parent or last.candidate.parent_id != parent.candidate.id:
            return None
        speed = f", {last.speedup:.2f}x eager" if last.speedup is not None else ""
        summary = last.result.summary.splitlines()[0] if last.result.summary else ""
        return f"round {last.candidate.round}, {last.result.verdict}{speed}: {summary}"[:600]

    def best(self) -> Tried | None:
        passing = [t for t in self.tried if t.speedup is not None]
        return max(passing, key=lambda t: t.speedup or 0.0) if passing else None

    def record(self, tried: Tried) -> None:
        before = self.best()
        self.tried.append(tried)
        self.rounds_since_gain = progress(self.config, before, self.best(), self.rounds_since_gain)
        check_stops(self.config, self.best(), self.rounds_since_gain)

    def step(self, round_index: int, kind: str, detail: str = "", noted: bool = True, **fields: Any) -> None:
        if kind in NOTED and noted:
            self.t.note(kind, round_index, detail)
        self.on_step(Step(task=self.t.task.ref, sample=self.t.sample, round=round_index, kind=kind, detail=detail,
                          **fields))


def run_rounds(rounds: int, one_round: Callable[[int], object], on_stop: Callable[[int, StopLoop], None]) -> str:
    """Rounds until one raises a stop (or all ran); `on_stop` gets the last round reached; returns the reason."""
    reached = 0
    try:
        for round_index in range(rounds):
            reached = round_index
            one_round(round_index)
        raise RoundsDone(f"{rounds} rounds")
    except StopLoop as stop:
        on_stop(reached, stop)
        return stop.reason


def progress(config: LoopConfig, before: Tried | None, after: Tried | None, rounds_since_gain: int) -> int:
    """Rounds without a gain of at least `min_gain` (none counted before anything passed), after one more round."""
    if after is None:
        return rounds_since_gain
    if before is None or (after.speedup or 0.0) > (before.speedup or 0.0) * (1 + config.min_gain):
        return 0
    return rounds_since_gain + 1


def check_stops(config: LoopConfig, best: Tried | None, rounds_since_gain: int) -> None:
    """Plateau and roofline: the stops that depend on progress, for a chain or a whole search."""
    if rounds_since_gain >= config.plateau_rounds:
        raise Plateau(f"no gain above {config.min_gain:.0%} in {rounds_since_gain} rounds")
    roof = best.profile.roofline.roof_fraction if best and best.profile and best.profile.roofline else None
    if roof is not None and roof >= config.roofline_stop:
        raise NearRoofline(f"best candidate at {roof:.0%} of its roof")


def _inspiration(tried: Tried) -> Inspiration:
    return Inspiration(source=tried.candidate.source, speedup=tried.speedup or 0.0, hint=tried.candidate.hint)
