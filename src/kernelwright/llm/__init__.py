"""The LLM layer: chat models behind one interface (hosted providers, scripted replies, replays of runs)."""

from .factory import open_model
from .models import (DEFAULT_TIMEOUT_S, CallContext, ChatModel, Completion, LLMError, Message, RepliesExhausted,
                     ReplyError, Role, Sampling)
from .pool import PoolModel
from .prices import Price, PriceTable, load_prices
from .recording import RecordingModel
from .replay import ReplayModel
from .retry import RetryPolicy, parse_retry_after
from .scripted import ScriptedModel, load_script, resolve_script
from .spec import ModelSpec, parse_spec

__all__ = [
    "AnthropicModel", "CallContext", "ChatModel", "Completion", "DEFAULT_TIMEOUT_S", "LLMError", "Message",
    "ModelSpec", "OpenAIModel", "PoolModel", "Price", "PriceTable", "RecordingModel", "ReplayModel", "RepliesExhausted", "ReplyError", "RetryPolicy",
    "Role", "Sampling", "ScriptedModel", "load_prices", "load_script", "open_model", "parse_retry_after",
    "parse_spec", "resolve_script",
]


def __getattr__(name: str) -> object:
    """The provider classes load their SDKs (seconds of imports) only when asked for."""
    if name == "OpenAIModel":
        from .openai_model import OpenAIModel

        return OpenAIModel
    if name == "AnthropicModel":
        from .anthropic_model import AnthropicModel

        return AnthropicModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
