"""What the agents and the LLM layer exchange: messages, the context of a call, its completion, its errors."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["coder", "judge"]
DEFAULT_TIMEOUT_S = 600.0  # a long kernel takes minutes to generate; streaming resets it with every chunk


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class CallContext(BaseModel):
    """Where a call belongs; recorded with it, and the key a replay model answers by."""

    run_id: str
    role: Role
    purpose: str  # seed, repair, optimise (Coder); correction, optimisation, reformat (Judge)
    task_hash: str | None = None
    task: str | None = None
    round: int = 0
    subject_id: str | None = None  # the candidate this call is shown
    sequence: int = 0  # order of this role's calls within the task (and sample), from 0
    sample: int = 0  # which independent trajectory of the task


class Completion(BaseModel):
    text: str
    model: str  # the model the provider says answered
    input_tokens: int = 0  # exactly as the provider reported them
    output_tokens: int = 0
    cost_usd: float | None = None  # None when the price table has no entry for the model
    latency_s: float = 0.0
    retries: int = 0
    finish_reason: str | None = None
    call_id: str | None = None  # the stored LLMCall, when a RecordingModel wrote one
    reasoning: str | None = None  # where the provider returned it (reasoning_content, thinking blocks)


class Sampling(BaseModel):
    """Sampling settings; only those set are sent (anthropic always gets max_tokens, see AnthropicModel)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, gt=0)


class LLMError(Exception):
    """A call that cannot succeed by retrying (bad key, unknown model, no replies left): one line for the user."""

    def __init__(self, message: str, *, retries: int = 0) -> None:
        super().__init__(message)
        self.retries = retries  # transient failures retried before this one


class RepliesExhausted(LLMError):
    """A scripted or replayed model has no reply left for this call: that task's loop ends (script_exhausted)."""


class ReplyError(Exception):
    """No usable reply for this call after retries (rate limits, 5xx, dropped connections, malformed bodies).

    Not fatal: the caller counts a failed round and continues.
    """

    def __init__(self, message: str, *, retries: int = 0) -> None:
        super().__init__(message)
        self.retries = retries


class ChatModel(Protocol):
    spec: str  # "provider/model" as the user wrote it

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        """Raises LLMError (fatal: stop the run) or ReplyError (this reply is lost; go on)."""
        ...

    def preflight(self) -> None:
        """A cheap check before any work; raises LLMError for a bad key, an unknown model or a missing script/run."""
        ...
