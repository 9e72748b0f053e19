"""What an SDK exception means for us: retry it (Transient), stop the run (LLMError), or neither (a bug)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import httpx2

from .models import LLMError
from .retry import Transient, parse_retry_after

RETRYABLE_STATUS = frozenset({408, 409, 429})


class Malformed(Exception):
    """A response body we cannot use (not JSON, wrong shape, a stream cut short)."""


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def provider_message(exc: Any) -> str:
    """The provider's own explanation inside an SDK error, on one line."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message.strip():
            return one_line(message)
    if isinstance(body, str) and body.strip():
        return one_line(body)
    return one_line(str(getattr(exc, "message", None) or exc))


def key_rejected(label: str, status: int, message: str, key_var: str) -> LLMError:
    return LLMError(f"{label}: the provider rejected the API key (HTTP {status}: {message}); set {key_var}")


def unknown_model(label: str, name: str, message: str) -> LLMError:
    return LLMError(f"{label}: unknown model {name!r} ({message})")


def translate(exc: BaseException, sdk: ModuleType, *, label: str, name: str, key_var: str) -> Exception | None:
    """Transient or LLMError for a failed request through `sdk` (openai or anthropic); None if not an API failure."""
    if isinstance(exc, Malformed):
        return Transient(f"malformed response: {exc}")
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        message = provider_message(exc)
        if status < 400:  # an error event inside a streamed reply
            return Transient(f"error in stream: {message}")
        if status in (401, 403):
            return key_rejected(label, status, message, key_var)
        if status == 404:
            return unknown_model(label, name, f"HTTP 404: {message}")
        if status in RETRYABLE_STATUS or status >= 500:
            return Transient(f"HTTP {status}: {message}", parse_retry_after(exc.response.headers))
        return LLMError(f"{label}: request rejected (HTTP {status}: {message})")
    if isinstance(exc, sdk.APIResponseValidationError):
        return Transient(f"malformed response: {one_line(exc.message)}")
    if isinstance(exc, sdk.APITimeoutError):
        return Transient("request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__
        return Transient(f"connection failed: {one_line(str(cause) or type(cause).__name__) if cause else exc.message}")
    if isinstance(exc, sdk.APIError):  # an error object inside a streamed reply
        return Transient(f"error in stream: {provider_message(exc)}")
    if isinstance(exc, httpx2.TimeoutException):
        return Transient("request timed out")
    if isinstance(exc, (httpx2.TransportError, httpx2.DecodingError)):
        return Transient(f"connection dropped: {one_line(str(exc)) or type(exc).__name__}")
    if isinstance(exc, json.JSONDecodeError):
        return Transient(f"malformed response: body is not JSON ({exc.msg})")
    return None
