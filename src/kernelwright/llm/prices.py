"""The price table: USD per million input and output tokens, shipped in prices.toml, overridable by the user."""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .models import LLMError

ENV_VAR = "KERNELWRIGHT_PRICES"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0.0)  # USD per million input tokens
    output: float = Field(ge=0.0)  # USD per million output tokens


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, Price] = Field(default_factory=dict)

    def lookup(self, model: str) -> Price | None:
        """The entry named `model`, else the one with the longest name `model` starts with, else None."""
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name)]
        return self.models[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """USD for a call, or None when the model has no price."""
        price = self.lookup(model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000

    def merged(self, other: PriceTable) -> PriceTable:
        """This table with other's entries replacing or adding to its own."""
        return PriceTable(models={**self.models, **other.models})


def _parse(text: str, where: str) -> PriceTable:
    try:
        return PriceTable.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise LLMError(f"price table {where} is not valid TOML: {e}") from e
    except ValidationError as e:
        first = e.errors()[0]
        at = ".".join(str(part) for part in first["loc"])
        raise LLMError(f"price table {where}: {at}: {first['msg']} (expected [models] \"name\" = "
                       "{ input = USD, output = USD } per million tokens)") from e


def shipped_prices() -> PriceTable:
    """The table shipped with kernelwright."""
    text = resources.files("kernelwright.llm").joinpath("prices.toml").read_text(encoding="utf-8")
    return _parse(text, "prices.toml (shipped)")


def load_prices(path: Path | None = None) -> PriceTable:
    """Shipped prices, with entries from `path` (or `$KERNELWRIGHT_PRICES`) replacing or extending them."""
    table = shipped_prices()
    override = path if path is not None else os.environ.get(ENV_VAR) or None
    if override is None:
        return table
    override = Path(override).expanduser()
    try:
        text = override.read_text(encoding="utf-8")
    except OSError as e:
        raise LLMError(f"cannot read price table {override}: {e.strerror or e}") from e
    return table.merged(_parse(text, str(override)))
