"""`scripted/PATH`: replies read from a JSON script, for demos and tests without an LLM."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..resources import data_dir
from .models import CallContext, Completion, LLMError, Message, RepliesExhausted, Role
from .sdk_errors import one_line


class TextReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


class FileReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str  # relative to the script


ScriptEntry = str | TextReply | FileReply


class Replies(BaseModel):
    """One task's replies in a multi-task script."""

    model_config = ConfigDict(extra="forbid")

    coder: list[ScriptEntry] = []
    judge: list[ScriptEntry] = []


class Script(BaseModel):
    """`{"coder": [reply, ...], "judge": [reply, ...]}`; a reply is a string, {"text": ...} or {"file": ...}.

    `tasks` maps a task (`levelN/NAME` or `NAME`) to its own replies; other tasks get the top-level ones.
    """

    model_config = ConfigDict(extra="forbid")

    about: str = ""  # what the script demonstrates, and the tasks it fits
    coder: list[ScriptEntry] = []
    judge: list[ScriptEntry] = []
    tasks: dict[str, Replies] = {}


def shipped_script_dirs() -> list[Path]:
    """Where shipped scripts live: `kernelwright/llm/scripts/`, then `prompts/scripted/` (either may be absent)."""
    dirs = [Path(__file__).resolve().parent / "scripts"]
    try:
        dirs.append(data_dir("prompts") / "scripted")
    except FileNotFoundError:
        pass
    return [d for d in dirs if d.is_dir()]


def resolve_script(name: str) -> Path:
    """`name` as a path to an existing file, else the shipped script `{name}.json`."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = shipped_script_dirs()
    for folder in shipped:
        if (folder / f"{name}.json").is_file():
            return folder / f"{name}.json"
    names = sorted({p.stem for folder in shipped for p in folder.glob("*.json")})
    offered = f" (shipped scripts: {', '.join(names)})" if names else ""
    raise LLMError(f"scripted model: no file {name} and no shipped script of that name{offered}")


def parse_script(path: Path) -> Script:
    try:
        return Script.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as e:
        raise LLMError(f"cannot read script {path}: {e}") from e
    except json.JSONDecodeError as e:
        raise LLMError(f"script {path} is not valid JSON: {e}") from e
    except ValidationError as e:
        first = e.errors()[0]
        at = ".".join(str(part) for part in first["loc"])
        raise LLMError(f"script {path}: {at}: {one_line(first['msg'])} (expected {{\"coder\": [...], "
                       "\"judge\": [...]}, each reply a string, {\"text\": ...} or {\"file\": ...})") from e


def _texts(path: Path, replies: Script | Replies) -> dict[Role, list[str]]:
    """Each role's reply texts, `file` replies read from beside the script."""
    def text(entry: ScriptEntry) -> str:
        if isinstance(entry, str):
            return entry
        if isinstance(entry, TextReply):
            return entry.text
        target = path.parent / entry.file
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise LLMError(f"script {path}: cannot read reply file {entry.file}: {e}") from e

    return {"coder": [text(e) for e in replies.coder], "judge": [text(e) for e in replies.judge]}


def load_script(path: Path) -> dict[Role, list[str]]:
    """The top-level replies of each role (those of a task without its own)."""
    return _texts(path, parse_script(path))


def load_task_replies(path: Path) -> dict[str, dict[Role, list[str]]]:
    """A multi-task script's replies by task name as written (`levelN/NAME` or `NAME`)."""
    return {task: _texts(path, replies) for task, replies in parse_script(path).tasks.items()}


def word_count(text: str) -> int:
    return len(text.split())


class ScriptedModel:
    """A role's call number N within a task (`CallContext.sequence`) gets that role's reply N.

    Keyed by the call, not by a counter, so a resumed run (whose earlier calls come from the store) and every task
    of a multi-task run get the same replies. Tokens are whitespace-separated words; cost is 0.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.spec = f"scripted/{name}"
        self.path = resolve_script(name)
        self._replies = load_script(self.path)
        self._by_task = load_task_replies(self.path)

    def replies(self, task: str | None) -> dict[Role, list[str]]:
        """`task`'s own replies when the script has them (by `levelN/NAME` or `NAME`), else the top-level ones."""
        if task is not None:
            for name in (task, task.rsplit("/", 1)[-1]):
                if name in self._by_task:
                    return self._by_task[name]
        return self._replies

    @property
    def tasks(self) -> list[str]:
        """The tasks a multi-task script has replies of their own for."""
        return list(self._by_task)

    def remaining(self, role: Role, sequence: int = 0, task: str | None = None) -> int:
        return max(0, len(self.replies(task)[role]) - sequence)

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        replies = self.replies(context.task)[context.role]
        if context.sequence >= len(replies):
            fits = f"; it has replies for {', '.join(self._by_task)}" if self._by_task and not replies else ""
            raise RepliesExhausted(f"scripted model {self.name} has no {context.role} reply #{context.sequence + 1} "
                                   f"(the script holds {len(replies)}{fits})")
        text = replies[context.sequence]
        return Completion(text=text, model=self.spec, input_tokens=sum(word_count(m.content) for m in messages),
                          output_tokens=word_count(text), cost_usd=0.0, latency_s=0.0, finish_reason="stop")

    def preflight(self) -> None:
        if not self.path.is_file():
            raise LLMError(f"scripted model {self.name}: {self.path} no longer exists")

    def __repr__(self) -> str:
        return f"ScriptedModel({self.spec!r})"
