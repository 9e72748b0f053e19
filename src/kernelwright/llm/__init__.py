"""The LLM layer: chat models behind one interface (hosted providers, scripted replies, replays of runs)."""

from .anthropic_model import AnthropicModel
from .factory import DEFAULT_TIMEOUT_S, open_model
from .models import CallContext, ChatModel, Completion, LLMError, Message, ReplyError, Role, Sampling
from .openai_model import OpenAIModel
from .prices import Price, PriceTable, load_prices
from .recording import RecordingModel
from .replay import ReplayModel
from .retry import RetryPolicy, parse_retry_after
from .scripted import ScriptedModel, load_script, resolve_script
from .spec import ModelSpec, parse_spec

__all__ = [
    "AnthropicModel", "CallContext", "ChatModel", "Completion", "DEFAULT_TIMEOUT_S", "LLMError", "Message",
    "ModelSpec", "OpenAIModel", "Price", "PriceTable", "RecordingModel", "ReplayModel", "ReplyError", "RetryPolicy",
    "Role", "Sampling", "ScriptedModel", "load_prices", "load_script", "open_model", "parse_retry_after",
    "parse_spec", "resolve_script",
]
