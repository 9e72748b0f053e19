"""The Coder: its prompts (seed, repair, optimise) and the candidate taken out of its reply."""

from __future__ import annotations

import ast
import re
from typing import Any, Literal

from pydantic import BaseModel

from ..llm.models import Message
from ..profile.models import ProfileReport
from ..tasks.models import Task
from .evidence import Evidence, profile_digest
from .hints import Hint
from .judge import Advice, advice_text
from .prompts import Backend, render, static_rules

CoderKind = Literal["seed", "repair", "optimise"]


class Inspiration(BaseModel):
    """Another verified candidate of the task, shown beside the parent (evolve)."""

    source: str
    speedup: float
    hint: str | None = None


# A fenced block: its fence, label and body. A block left open at the end (a cut-off reply) counts too.
BLOCK = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
PYTHON_LABELS = frozenset({"", "python", "py", "python3"})
DEFINES_MODELNEW = re.compile(r"^class[ \t]+ModelNew\b", re.MULTILINE)


def coder_messages(kind: CoderKind, *, task: Task, backend: Backend, hardware: dict[str, Any],
                   previous_source: str | None = None, evidence: Evidence | None = None,
                   advice: Advice | str | None = None, profile: ProfileReport | None = None,
                   last_attempt: str | None = None, examples: list[Any] | None = None, hint: Hint | None = None,
                   inspirations: list[Inspiration] | None = None) -> list[Message]:
    """System prompt (format, build layout, rules, hardware) and the round's request; a seed request shows
    `examples`, past winners of similar tasks (agents.memory), when there are any. A search strategy adds the
    direction this call should explore (`hint`) and other strong candidates of the task (`inspirations`)."""
    if kind != "seed" and (previous_source is None or evidence is None):
        raise ValueError(f"a {kind} prompt needs the previous candidate and its evidence")
    system = render("coder_system.j2", backend=backend, hardware=hardware, rules=static_rules(backend))
    user = render(f"coder_{kind}.j2", task=task, backend=backend, previous_source=previous_source,
                  evidence=evidence, advice=advice_text(advice), profile=profile_digest(profile),
                  last_attempt=last_attempt, examples=examples or [], hint=hint, inspirations=inspirations or [])
    return [Message(role="system", content=system), Message(role="user", content=user)]


def extract_source(reply: str) -> str | None:
    """The last fenced Python block that defines `class ModelNew`; None when there is none or it does not parse.

    A reply without any fence that is itself a Python module defining ModelNew (a bare source file) is taken whole.
    """
    text = (reply or "").replace("\r\n", "\n")
    blocks = [body for _, label, body in BLOCK.findall(text) if label.lower() in PYTHON_LABELS]
    chosen = next((body for body in reversed(blocks) if DEFINES_MODELNEW.search(body)), None)
    if chosen is None and "```" not in text and DEFINES_MODELNEW.search(text):
        chosen = text
    if chosen is None:
        return None
    try:
        tree = ast.parse(chosen)
    except (SyntaxError, ValueError):
        return None
    if not any(isinstance(node, ast.ClassDef) and node.name == "ModelNew" for node in tree.body):
        return None
    return chosen.strip("\n") + "\n"
