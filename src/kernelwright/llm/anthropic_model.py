"""`anthropic/MODEL`: the Anthropic Messages API."""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

from .models import LLMError, Message
from .provider import ProviderModel, Reply
from .sdk_errors import Malformed, provider_message, unknown_model

DEFAULT_MAX_TOKENS = 16_384


class AnthropicModel(ProviderModel):
    """Streams by default: the API may drop long non-streaming requests, and the SDK refuses those it expects
    to exceed 10 minutes. The Messages API requires max_tokens (default 16384) and, in this SDK generation,
    takes no temperature or top_p."""

    provider = "anthropic"
    key_var = "ANTHROPIC_API_KEY"
    base_url_var = "ANTHROPIC_BASE_URL"
    default_stream = True
    sdk = anthropic

    def _check_sampling(self) -> None:
        unsupported = [f for f in ("temperature", "top_p") if getattr(self.sampling, f) is not None]
        if unsupported:
            raise LLMError(f"{self.spec}: the Anthropic Messages API takes no {' or '.join(unsupported)}; "
                           "set only max_tokens for anthropic models")

    def _make_client(self, api_key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(api_key=api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s)

    def _params(self, messages: list[Message]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": self.sampling.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
        }
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        if system:
            params["system"] = system
        return params

    def _request(self, messages: list[Message]) -> Reply:
        params = self._params(messages)
        if self.stream:
            return self._streamed(params)
        result = self._client.messages.create(**params)
        content = getattr(result, "content", None)
        usage = getattr(result, "usage", None)
        if not isinstance(result, AnthropicMessage) or not isinstance(content, list) or usage is None:
            raise Malformed("not a message")
        text = "".join(block.text for block in content
                       if getattr(block, "type", None) == "text" and isinstance(getattr(block, "text", None), str))
        thinking = "".join(block.thinking for block in content if getattr(block, "type", None) == "thinking"
                           and isinstance(getattr(block, "thinking", None), str))
        return Reply(text=text, model=getattr(result, "model", None) or self.name,
                     input_tokens=getattr(usage, "input_tokens", 0) or 0,
                     output_tokens=getattr(usage, "output_tokens", 0) or 0,
                     finish_reason=getattr(result, "stop_reason", None), reasoning=thinking or None)

    def _streamed(self, params: dict[str, Any]) -> Reply:
        parts: list[str] = []
        thoughts: list[str] = []
        model: str | None = None
        input_tokens = output_tokens = 0
        finish: str | None = None
        stopped = False
        with self._client.messages.create(**params, stream=True) as stream:
            for event in stream:
                kind = getattr(event, "type", None)
                if kind == "message_start":
                    message = event.message
                    model = getattr(message, "model", None) or model
                    input_tokens = getattr(message.usage, "input_tokens", 0) or 0
                    output_tokens = getattr(message.usage, "output_tokens", 0) or 0
                elif kind == "content_block_delta" and getattr(event.delta, "type", None) == "text_delta":
                    parts.append(event.delta.text)
                elif kind == "content_block_delta" and getattr(event.delta, "type", None) == "thinking_delta":
                    thoughts.append(event.delta.thinking)
                elif kind == "message_delta":
                    finish = getattr(event.delta, "stop_reason", None) or finish
                    usage = getattr(event, "usage", None)
                    if getattr(usage, "input_tokens", None) is not None:
                        input_tokens = usage.input_tokens
                    if getattr(usage, "output_tokens", None) is not None:
                        output_tokens = usage.output_tokens
                elif kind == "message_stop":
                    stopped = True
        if not stopped:
            raise Malformed("the stream ended before the reply was complete")
        return Reply(text="".join(parts), model=model or self.name, input_tokens=input_tokens,
                     output_tokens=output_tokens, finish_reason=finish, reasoning="".join(thoughts) or None)

    def _on_model_not_found(self, error: Any) -> None:
        if getattr(error, "type", None) == "not_found_error" or self.base_url is None:
            raise unknown_model(self.spec, self.name, f"HTTP 404: {provider_message(error)}") from None
