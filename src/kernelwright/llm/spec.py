"""Model specs: `provider/model`, where the model part may itself contain slashes."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel

from .models import LLMError

Provider = Literal["openai", "anthropic", "scripted", "replay"]
PROVIDERS: tuple[str, ...] = get_args(Provider)
VALID_FORMS = "openai/MODEL, anthropic/MODEL, scripted/PATH or replay/RUN_ID"


class ModelSpec(BaseModel):
    provider: Provider
    name: str  # the model, script path or run id

    def __str__(self) -> str:
        return f"{self.provider}/{self.name}"


def parse_spec(spec: str) -> ModelSpec:
    """Split `provider/model` at the first slash; LLMError naming the valid forms otherwise."""
    provider, _, name = spec.strip().partition("/")
    if provider not in PROVIDERS or not name.strip():
        raise LLMError(f"model spec {spec!r} is not valid; use {VALID_FORMS}")
    return ModelSpec(provider=provider, name=name.strip())  # type: ignore[arg-type]
