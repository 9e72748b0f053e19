"""Retrying transient provider failures: exponential backoff with jitter, or the wait the provider asks for."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

import tenacity
from pydantic import BaseModel, ConfigDict, Field

from .models import LLMError, ReplyError

T = TypeVar("T")
Sleep = Callable[[float], None]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=6, ge=1)  # tries in all, the first included
    base_s: float = Field(default=1.0, ge=0.0)  # backoff before the first retry; doubles with each retry
    max_wait_s: float = Field(default=60.0, ge=0.0)  # cap on every wait, a provider's retry-after included

    def backoff(self, retry_number: int) -> float:
        """Wait before retry `retry_number` (from 1): half fixed, half random, so clients spread out."""
        ceiling = min(self.max_wait_s, self.base_s * 2 ** (retry_number - 1))
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)


class Transient(Exception):
    """A failure worth retrying; `retry_after` is the wait the provider asked for, if it did."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date); None if absent or bad."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _wait(policy: RetryPolicy, state: tenacity.RetryCallState) -> float:
    failure = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failure, Transient) and failure.retry_after is not None:
        return min(failure.retry_after, policy.max_wait_s)
    return policy.backoff(state.attempt_number)


def run_with_retries(attempt: Callable[[], T], policy: RetryPolicy, *, sleep: Sleep, label: str) -> tuple[T, int]:
    """`attempt()` and the number of retries it took; it signals retryable failures by raising Transient.

    Retries exhausted -> ReplyError; LLMError passes through with the retries taken before it.
    """
    retries = 0

    def count(_: tenacity.RetryCallState) -> None:
        nonlocal retries
        retries += 1

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=lambda state: _wait(policy, state),
        retry=tenacity.retry_if_exception_type(Transient),
        before_sleep=count,
        sleep=sleep,
    )
    try:
        return retrying(attempt), retries
    except tenacity.RetryError as e:
        last = e.last_attempt.exception()
        tries = f"{policy.attempts} attempt" + ("s" if policy.attempts > 1 else "")
        raise ReplyError(f"{label}: no usable reply after {tries}; last: {last}",
                         retries=retries) from last
    except LLMError as e:
        e.retries = retries
        raise
