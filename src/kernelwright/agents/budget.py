"""Budgets and the reasons a task's loop stops, as exceptions (the loop raises them; the runner records them)."""

from __future__ import annotations

import threading
import time

from pydantic import BaseModel


class StopLoop(Exception):
    """The loop for one task ends; `reason` is stored with the outcome."""

    reason = "stopped"


class RoundsDone(StopLoop):
    reason = "rounds"


class Plateau(StopLoop):
    reason = "plateau"


class NearRoofline(StopLoop):
    reason = "roofline"


class BudgetExhausted(StopLoop):
    reason = "budget"


class TooManyFailures(StopLoop):
    reason = "failures"


class Interrupted(StopLoop):
    reason = "interrupted"


class ScriptExhausted(StopLoop):
    """A scripted or replayed model ran out of replies: the task ends as it stands, like a round limit."""

    reason = "script_exhausted"


class BudgetLimits(BaseModel):
    """Limits for a whole run; None means no limit."""

    max_usd: float | None = None
    max_tokens: int | None = None
    max_wall_s: float | None = None
    max_coder_calls: int | None = None  # Coder calls of the whole run: equal spend across strategies


class Spend(BaseModel):
    llm_calls: int = 0
    coder_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, input_tokens: int, output_tokens: int, cost_usd: float | None, role: str = "") -> None:
        self.llm_calls += 1
        self.coder_calls += role == "coder"
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd or 0.0


class Budget:
    """What a run has spent against its limits. Resumed runs start from what the store says was spent."""

    def __init__(self, limits: BudgetLimits, spent: Spend | None = None, seconds_before: float = 0.0) -> None:
        """`seconds_before`: how long the run's earlier sessions ran; the wall-clock limit is for the whole run."""
        self.limits = limits
        self.spent = spent or Spend()
        self._started = time.monotonic() - seconds_before
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._coder_reserved = 0  # Coder calls started and not yet charged

    def charge(self, input_tokens: int, output_tokens: int, cost_usd: float | None, role: str = "") -> None:
        """Several samples run at once and share one budget."""
        with self._lock:
            self.spent.add(input_tokens, output_tokens, cost_usd, role)

    def reserve_coder_call(self) -> None:
        """Called just before a Coder call goes out; with a Coder-call limit, calls in flight count against it, so
        parallel samples never make more calls than the limit."""
        with self._lock:
            limit = self.limits.max_coder_calls
            if limit is not None and self.spent.coder_calls + self._coder_reserved >= limit:
                raise BudgetExhausted(f"made {self.spent.coder_calls} of {limit} Coder calls")
            self._coder_reserved += 1

    def release_coder_call(self) -> None:
        """A reserved Coder call was never made."""
        with self._lock:
            self._coder_reserved -= 1

    def settle_coder_call(self, input_tokens: int, output_tokens: int, cost_usd: float | None) -> None:
        """A reserved Coder call came back (with a reply or an error: a failed call counts as made)."""
        with self._lock:
            self._coder_reserved -= 1
            self.spent.add(input_tokens, output_tokens, cost_usd, "coder")

    def spent_s(self) -> float:
        """Wall-clock seconds of the run so far, earlier sessions included."""
        return time.monotonic() - self._started

    def interrupt(self) -> None:
        self._stop.set()

    @property
    def interrupted(self) -> bool:
        return self._stop.is_set()

    def check_interrupt(self) -> None:
        """A step boundary inside a round: only an interruption stops here, limits are checked between calls."""
        if self._stop.is_set():
            raise Interrupted("the run was interrupted")

    def check(self) -> None:
        self.check_interrupt()
        limits, spent = self.limits, self.spent
        if limits.max_usd is not None and spent.cost_usd >= limits.max_usd:
            raise BudgetExhausted(f"spent ${spent.cost_usd:.4f} of ${limits.max_usd:g}")
        if limits.max_tokens is not None and spent.input_tokens + spent.output_tokens >= limits.max_tokens:
            raise BudgetExhausted(f"used {spent.input_tokens + spent.output_tokens} of {limits.max_tokens} tokens")
        if limits.max_coder_calls is not None and spent.coder_calls >= limits.max_coder_calls:
            raise BudgetExhausted(f"made {spent.coder_calls} of {limits.max_coder_calls} Coder calls")
        if limits.max_wall_s is not None and self.spent_s() >= limits.max_wall_s:
            raise BudgetExhausted(f"ran {self.spent_s():.0f} s of {limits.max_wall_s:g} s")
