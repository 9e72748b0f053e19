"""The part every hosted-provider model shares: keys, retries, timing, cost, preflight."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

from .models import DEFAULT_TIMEOUT_S, CallContext, Completion, LLMError, Message, Sampling
from .prices import PriceTable, load_prices
from .retry import RetryPolicy, Sleep, run_with_retries
from .sdk_errors import key_rejected, provider_message, translate

PLACEHOLDER_KEY = "unused"  # local OpenAI-compatible servers (vLLM, Ollama) ignore the key, the SDKs need one
PREFLIGHT_TIMEOUT_S = 30.0


@dataclass
class Reply:
    """One provider answer, before timing and cost."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None
    reasoning: str | None = None  # the model's reasoning, where the provider returns it apart from the text


class ProviderModel(ABC):
    """A model behind an HTTP API; subclasses build the client and make one request."""

    provider: ClassVar[str]
    key_var: ClassVar[str]
    base_url_var: ClassVar[str]
    default_stream: ClassVar[bool]
    sdk: ClassVar[ModuleType]

    def __init__(self, name: str, *, base_url: str | None = None, prices: PriceTable | None = None,
                 sampling: Sampling | None = None, retry: RetryPolicy | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, stream: bool | None = None,
                 sleep: Sleep = time.sleep) -> None:
        self.name = name
        self.spec = f"{self.provider}/{name}"
        self.prices = prices if prices is not None else load_prices()
        self.sampling = sampling or Sampling()
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.stream = self.default_stream if stream is None else stream
        self._sleep = sleep
        self.base_url = base_url or os.environ.get(self.base_url_var) or None
        api_key = os.environ.get(self.key_var) or None
        if api_key is None:
            if self.base_url is None:
                raise LLMError(self._missing_key_message())
            api_key = PLACEHOLDER_KEY
        self._check_sampling()
        self._client = self._make_client(api_key)

    def _missing_key_message(self) -> str:
        return f"{self.spec} needs an API key: export {self.key_var}=..."

    def _check_sampling(self) -> None:
        """Raise LLMError for settings this provider does not take."""

    @abstractmethod
    def _make_client(self, api_key: str) -> Any: ...

    @abstractmethod
    def _request(self, messages: list[Message]) -> Reply:
        """One attempt; raises SDK errors, or Malformed for a body that cannot be used."""

    def _attempt(self, messages: list[Message]) -> Reply:
        try:
            return self._request(messages)
        except Exception as exc:
            translated = translate(exc, self.sdk, label=self.spec, name=self.name, key_var=self.key_var)
            if translated is None:
                raise
            raise translated from exc

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        start = time.monotonic()
        reply, retries = run_with_retries(lambda: self._attempt(messages), self.retry, sleep=self._sleep,
                                          label=self.spec)
        cost = self.prices.cost(reply.model, reply.input_tokens, reply.output_tokens)
        if cost is None and reply.model != self.name:
            cost = self.prices.cost(self.name, reply.input_tokens, reply.output_tokens)
        return Completion(text=reply.text, model=reply.model, input_tokens=reply.input_tokens,
                          output_tokens=reply.output_tokens, cost_usd=cost, latency_s=time.monotonic() - start,
                          retries=retries, finish_reason=reply.finish_reason, reasoning=reply.reasoning)

    def preflight(self) -> None:
        """Ask for the model once: a rejected key or an unknown model is an LLMError; anything else is let pass."""
        try:
            self._client.models.retrieve(self.name, timeout=min(self.timeout_s, PREFLIGHT_TIMEOUT_S))
        except self.sdk.APIStatusError as e:
            if e.status_code in (401, 403):
                raise key_rejected(self.spec, e.status_code, provider_message(e), self.key_var) from None
            if e.status_code == 404:
                self._on_model_not_found(e)
        except Exception:  # a server without the endpoint, unreachable, 5xx: the real call will tell
            return

    @abstractmethod
    def _on_model_not_found(self, error: Any) -> None:
        """Raise LLMError if a 404 from the models endpoint means the model does not exist."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
