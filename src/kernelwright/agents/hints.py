"""The shipped optimisation directions (`prompts/hints.toml`) that search strategies hand to parallel Coder calls."""

from __future__ import annotations

import functools
import tomllib

from pydantic import BaseModel

from ..resources import data_dir


class Hint(BaseModel):
    name: str
    text: str


@functools.lru_cache(maxsize=2)
def hints_for(backend: str) -> tuple[Hint, ...]:
    """The directions for a backend ("cuda..." or "cpu"), in the file's order."""
    table = tomllib.loads((data_dir("prompts") / "hints.toml").read_text(encoding="utf-8"))
    section = table["cuda" if backend.startswith("cuda") else "cpu"]
    return tuple(Hint(name=name, text=text) for name, text in section.items())

