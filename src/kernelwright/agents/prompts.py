"""The prompt templates of `prompts/`: one strict Jinja environment, and the static gate's rules as they show them."""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from pydantic import BaseModel

from ..backend import Backend
from ..resources import data_dir
from ..sandbox.policy import load_static_policy
from .hardware import quantity, sheet_view


class RuleLine(BaseModel):
    id: str
    summary: str
    message: str


class RuleSheet(BaseModel):
    """The gate's rules for one backend: hard rules reject a candidate, flags only report it."""

    backend: Backend
    forbidden: list[RuleLine]
    discouraged: list[RuleLine]
    headers: list[str]
    header_prefixes: list[str]
    library_prefixes: list[str]


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("prompts"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(sheet_view=sheet_view, quantity=quantity, fixed=_fixed, times=_times, percent=_percent)
    return env


def render(template: str, **variables: Any) -> str:
    """Renders one template; a variable it uses but was not given raises `jinja2.UndefinedError`."""
    return environment().get_template(template).render(**variables)


def static_rules(backend: Backend) -> RuleSheet:
    """The gate's rules that apply on `backend`, read through the gate's own policy loader."""
    policy = load_static_policy()
    forbidden, discouraged = [], []
    for rule_id, spec in policy.rules.items():
        if backend not in spec.backends:
            continue
        line = RuleLine(id=rule_id, summary=spec.summary, message=spec.message)
        (forbidden if spec.severity == "reject" else discouraged).append(line)
    headers = policy.native.headers
    exact = headers.common | (headers.cuda if backend == "cuda" else headers.cpu)
    prefixes = headers.common_prefixes + (headers.cuda_prefixes if backend == "cuda" else headers.cpu_prefixes)
    return RuleSheet(backend=backend, forbidden=forbidden, discouraged=discouraged, headers=sorted(exact),
                     header_prefixes=list(prefixes), library_prefixes=list(headers.library_prefixes))


def _fixed(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def _times(value: float) -> str:
    return f"{value:.2f}x"


def _percent(value: float) -> str:
    return f"{value:.0%}"
