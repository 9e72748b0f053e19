"""The Judge: its prompts, its JSON verdicts (a correction or an optimisation), and the one reformat retry."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from ..llm.models import Message
from ..profile.models import ProfileReport
from ..tasks.models import Task
from .evidence import Evidence, profile_digest
from .prompts import Backend, render, static_rules

JudgeKind = Literal["correction", "optimisation"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)


class _Verdict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Correction(_Verdict):
    """A failed candidate's one critical issue, what shows it, and the minimal fix."""

    kind: ClassVar[str] = "correction"
    critical_issue: Text
    evidence: Text
    fix: Text

    @field_validator("evidence", mode="before")
    @classmethod
    def _joined(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return "; ".join(value)
        return value


class Optimisation(_Verdict):
    """A passing candidate's one bottleneck (metrics cited), one optimisation and a short plan."""

    kind: ClassVar[str] = "optimisation"
    bottleneck: Text
    evidence: list[Text] = Field(min_length=1)
    optimisation: Text
    plan: list[Text] = Field(min_length=1)

    @field_validator("evidence", "plan", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [item if isinstance(item, str) else json.dumps(item) for item in value]
        return value


class FreeTextAdvice(BaseModel):
    """The Judge's reply passed on as it was, when it never parsed."""

    kind: ClassVar[str] = "free_text"
    text: str


Advice = Correction | Optimisation | FreeTextAdvice

MODELS: dict[str, type[Correction] | type[Optimisation]] = {"correction": Correction, "optimisation": Optimisation}


class JudgeParseError(ValueError):
    """The Judge's reply holds no JSON object of the asked shape; `error` says why, for the reformat prompt."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def judge_messages(kind: JudgeKind, *, task: Task, backend: Backend, hardware: dict[str, Any], source: str,
                   evidence: Evidence, profile: ProfileReport | None) -> list[Message]:
    system = render("judge_system.j2", backend=backend, hardware=hardware, rules=static_rules(backend))
    user = render(f"judge_{kind}.j2", kind=kind, task=task, backend=backend, source=source, evidence=evidence,
                  profile=profile_digest(profile))
    return [Message(role="system", content=system), Message(role="user", content=user)]


def parse_verdict(reply: str, kind: JudgeKind) -> Correction | Optimisation:
    """The first JSON object in the reply (fenced or bare, prose around it tolerated) that is a valid `kind`."""
    model = MODELS[kind]
    objects = _json_objects(reply)
    if not objects:
        raise JudgeParseError("the reply contains no JSON object")
    problems = []
    for found in objects:
        for candidate in _unwrapped(found):
            try:
                return model.model_validate(candidate)
            except ValidationError as error:
                problems.append((error.error_count(), _describe(error)))
    closest = min(problems)[1]
    raise JudgeParseError(f"the JSON object is not a valid {kind}: {closest}")


def reformat_messages(previous_messages: list[Message], reply: str, error: str | JudgeParseError,
                      kind: JudgeKind) -> list[Message]:
    """The conversation so far, the reply that did not parse, and a request for the JSON object alone."""
    ask = render("judge_reformat.j2", kind=kind, error=str(error))
    return [*previous_messages, Message(role="assistant", content=reply), Message(role="user", content=ask)]


def advice_text(advice: Advice | str | None) -> str | None:
    """The Judge's advice as the Coder reads it."""
    if advice is None:
        return None
    if isinstance(advice, str):
        advice = FreeTextAdvice(text=advice)
    if isinstance(advice, FreeTextAdvice) and not advice.text.strip():
        return None
    return render("_advice.j2", advice=advice).strip()


def _json_objects(reply: str) -> list[dict[str, Any]]:
    reply = reply.replace("\r\n", "\n")
    fenced = [body for _, label, body in FENCE.findall(reply) if label.lower() in ("json", "")]
    found: list[dict[str, Any]] = []
    for text in [*fenced, reply]:
        found += [obj for obj in _scan(text) if obj not in found]
    return found


def _scan(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in free text."""
    decoder, objects, index = json.JSONDecoder(), [], text.find("{")
    while index >= 0:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            objects.append(value)
        index = text.find("{", end)
    return objects


def _unwrapped(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The object, and the object inside it when the Judge wrapped its answer (`{"correction": {...}}`)."""
    inner = [value for value in found.values() if isinstance(value, dict)] if len(found) == 1 else []
    return [found, *inner]


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in item['loc']) or 'object'}: {item['msg']}" for item in error.errors())
