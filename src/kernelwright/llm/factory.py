"""open_model: a ChatModel from a `provider/model` spec."""

from __future__ import annotations

import time

from ..store import Store
from .models import DEFAULT_TIMEOUT_S, ChatModel, LLMError, Sampling
from .prices import PriceTable
from .replay import ReplayModel
from .retry import RetryPolicy, Sleep
from .pool import PoolModel, is_pool_script
from .scripted import ScriptedModel, resolve_script
from .spec import parse_spec


def open_model(spec: str, *, base_url: str | None = None, store: Store | None = None,
               prices: PriceTable | None = None, sampling: Sampling | None = None, retry: RetryPolicy | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S, stream: bool | None = None,
               sleep: Sleep = time.sleep) -> ChatModel:
    """The model `spec` names. `store` is needed by replay/; provider settings are ignored by scripted/ and replay/.

    Wrap the result in RecordingModel to store its calls. Raises LLMError (one line) for a bad spec, a missing key,
    unsupported sampling settings, a missing script or run.
    """
    parsed = parse_spec(spec)
    if parsed.provider in ("openai", "anthropic"):
        # The SDKs take seconds to import: only a run that talks to a provider pays for them.
        if parsed.provider == "openai":
            from .openai_model import OpenAIModel as cls
        else:
            from .anthropic_model import AnthropicModel as cls  # type: ignore[assignment]
        return cls(parsed.name, base_url=base_url, prices=prices, sampling=sampling, retry=retry,
                   timeout_s=timeout_s, stream=stream, sleep=sleep)
    if parsed.provider == "scripted":
        path = resolve_script(parsed.name)
        return PoolModel(parsed.name, path) if is_pool_script(path) else ScriptedModel(parsed.name)
    if store is None:
        raise LLMError(f"{parsed} needs the database that holds run {parsed.name}")
    return ReplayModel(parsed.name, store)
