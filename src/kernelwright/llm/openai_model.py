"""`openai/MODEL`: OpenAI chat completions, or any OpenAI-compatible server (vLLM, Ollama, ...) via a base URL."""

from __future__ import annotations

from typing import Any

import openai
from openai.types.chat import ChatCompletion

from .models import Message
from .provider import ProviderModel, Reply
from .sdk_errors import Malformed, provider_message, unknown_model


class OpenAIModel(ProviderModel):
    """Non-streaming by default. With a base URL (argument or OPENAI_BASE_URL) the key may be absent, and
    `max_tokens` is sent as `max_tokens` (what compatible servers read) instead of `max_completion_tokens`."""

    provider = "openai"
    key_var = "OPENAI_API_KEY"
    base_url_var = "OPENAI_BASE_URL"
    default_stream = False
    sdk = openai

    def _missing_key_message(self) -> str:
        return (f"{self.spec} needs an API key: export {self.key_var}=... "
                f"(or set {self.base_url_var} to an OpenAI-compatible server)")

    def _make_client(self, api_key: str) -> openai.OpenAI:
        return openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s)

    def _params(self, messages: list[Message]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if self.sampling.temperature is not None:
            params["temperature"] = self.sampling.temperature
        if self.sampling.top_p is not None:
            params["top_p"] = self.sampling.top_p
        if self.sampling.max_tokens is not None:
            params["max_tokens" if self.base_url else "max_completion_tokens"] = self.sampling.max_tokens
        return params

    def _request(self, messages: list[Message]) -> Reply:
        params = self._params(messages)
        if self.stream:
            return self._streamed(params)
        result = self._client.chat.completions.create(**params)
        choices = getattr(result, "choices", None)
        if not isinstance(result, ChatCompletion) or not isinstance(choices, list) or not choices:
            raise Malformed("no choices in the chat completion")
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if message is None or not isinstance(text, (str, type(None))):
            raise Malformed("no message in the chat completion")
        usage = getattr(result, "usage", None)
        return Reply(text=text or "", model=getattr(result, "model", None) or self.name,
                     input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                     output_tokens=getattr(usage, "completion_tokens", 0) or 0,
                     finish_reason=getattr(choices[0], "finish_reason", None), reasoning=_reasoning(message))

    def _streamed(self, params: dict[str, Any]) -> Reply:
        parts: list[str] = []
        thoughts: list[str] = []
        model: str | None = None
        finish: str | None = None
        usage: Any = None
        stream = self._client.chat.completions.create(**params, stream=True,
                                                      stream_options={"include_usage": True})
        with stream:
            for chunk in stream:
                model = getattr(chunk, "model", None) or model
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or []:
                    if getattr(choice, "index", 0) != 0:
                        continue
                    delta = getattr(choice, "delta", None)
                    content = getattr(delta, "content", None)
                    if isinstance(content, str):
                        parts.append(content)
                    thought = _reasoning(delta)
                    if thought:
                        thoughts.append(thought)
                    finish = getattr(choice, "finish_reason", None) or finish
        if finish is None:
            raise Malformed("the stream ended before the reply was complete")
        return Reply(text="".join(parts), model=model or self.name,
                     input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                     output_tokens=getattr(usage, "completion_tokens", 0) or 0, finish_reason=finish,
                     reasoning="".join(thoughts) or None)

    def _on_model_not_found(self, error: Any) -> None:
        if getattr(error, "code", None) == "model_not_found" or self.base_url is None:
            raise unknown_model(self.spec, self.name, f"HTTP 404: {provider_message(error)}") from None
        # a compatible server may lack GET /models/{id}; its model list settles it
        try:
            offered = [m.id for m in self._client.models.list(timeout=10.0)]
        except Exception:
            return
        if offered and self.name not in offered:
            shown = ", ".join(offered[:10]) + (", ..." if len(offered) > 10 else "")
            raise unknown_model(self.spec, self.name, f"the server offers {shown}") from None


def _reasoning(message: Any) -> str | None:
    """Reasoning an OpenAI-compatible server returns beside the content (`reasoning_content`: vLLM, SGLang,
    DeepSeek; `reasoning`: Ollama, OpenRouter): extra fields the SDK keeps on the message or delta."""
    extra = getattr(message, "model_extra", None) or {}
    for name in ("reasoning_content", "reasoning"):
        value = extra.get(name, getattr(message, name, None))
        if isinstance(value, str) and value:
            return value
    return None
