"""RecordingModel: stores one LLMCall row per call of any ChatModel, failed calls included."""

from __future__ import annotations

import time

from ..store import LLMCall, Store, prompt_hash
from .models import CallContext, ChatModel, Completion, Message


class RecordingModel:
    """Wraps `inner`; every complete() writes an LLMCall (error set when it raised, then re-raises)
    and returns the completion with `call_id` set."""

    def __init__(self, inner: ChatModel, store: Store) -> None:
        self.inner = inner
        self.store = store
        self.spec = inner.spec

    def _call(self, messages: list[Message], context: CallContext, **fields: object) -> LLMCall:
        plain = [m.model_dump() for m in messages]
        return LLMCall(run_id=context.run_id, role=context.role, messages=plain, prompt_hash=prompt_hash(plain),
                       task_hash=context.task_hash, round=context.round, purpose=context.purpose,
                       subject_id=context.subject_id, sequence=context.sequence, sample=context.sample,
                       **fields)  # type: ignore[arg-type]

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        start = time.monotonic()
        try:
            completion = self.inner.complete(messages, context)
        except Exception as e:
            self.store.add(self._call(messages, context, model=self.spec, latency_s=time.monotonic() - start,
                                      retries=getattr(e, "retries", 0), error=str(e) or type(e).__name__))
            raise
        call = self.store.add(self._call(
            messages, context, model=completion.model or self.spec, response=completion.text,
            tokens_in=completion.input_tokens, tokens_out=completion.output_tokens, cost_usd=completion.cost_usd,
            latency_s=completion.latency_s, retries=completion.retries, reasoning=completion.reasoning))
        return completion.model_copy(update={"call_id": call.id})

    def preflight(self) -> None:
        self.inner.preflight()

    def __repr__(self) -> str:
        return f"RecordingModel({self.inner!r})"
