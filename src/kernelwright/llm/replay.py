"""`replay/RUN_ID`: answers with the replies an earlier run recorded, matched by (task_hash, sample, role, sequence)."""

from __future__ import annotations

from ..store import LLMCall, Run, Store
from .models import CallContext, Completion, LLMError, Message, RepliesExhausted, ReplyError, Role

Key = tuple[str | None, int, Role, int | None]


class ReplayModel:
    """Reads the run's calls once, at construction. A key whose recorded calls all failed replays the failure
    as ReplyError; the recorded model name, text and tokens come back with cost 0."""

    def __init__(self, run_id: str, store: Store) -> None:
        self.run_id = run_id
        self.spec = f"replay/{run_id}"
        self._store = store
        self._check_run()
        self._answers: dict[Key, LLMCall] = {}
        self._failures: dict[Key, LLMCall] = {}
        for call in store.llm_calls(run_id=run_id):
            key = (call.task_hash, call.sample, call.role, call.sequence)
            (self._failures if call.error is not None else self._answers)[key] = call

    def _check_run(self) -> None:
        if self._store.get(Run, self.run_id) is None:
            raise LLMError(f"no run {self.run_id} in {self._store.path}; `kernelwright show` lists runs")

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        key = (context.task_hash, context.sample, context.role, context.sequence)
        call = self._answers.get(key)
        if call is None:
            failed = self._failures.get(key)
            if failed is not None:
                raise ReplyError(f"{self.spec}: replayed failure: {failed.error}", retries=failed.retries)
            task = context.task or context.task_hash
            raise RepliesExhausted(f"run {self.run_id} recorded no {context.role} reply for task {task} "
                           f"sample {context.sample} sequence {context.sequence}")
        return Completion(text=call.response, model=call.model, input_tokens=call.tokens_in,
                          output_tokens=call.tokens_out, cost_usd=0.0, latency_s=0.0)

    def preflight(self) -> None:
        self._check_run()

    def __repr__(self) -> str:
        return f"ReplayModel({self.spec!r})"
