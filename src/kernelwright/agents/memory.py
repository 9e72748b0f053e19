"""The kernel memory: every verified PASS with a speedup that counts, kept across runs, and the one or two most
similar past winners shown to the Coder's seed prompt.

Similarity is between task signatures: the operators a task's reference calls (torch functions, tensor methods and
nn layers, read from its source) and its dtype. A run never retrieves a winner of one of its own tasks unless asked
(`--memory-same-task`), so an evaluation's numbers stay clean; it retrieves only entries stored before it started,
so a resumed run asks its seed questions again word for word.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..store import Store
from ..tasks import Task
from ..tasks.signature import similarity, task_signature

EXAMPLES = 2


class Example(BaseModel):
    """A past winner as the seed prompt shows it."""

    task: str
    speedup_eager: float
    source: str
    shared_ops: list[str]


def retrieve(store: Store, task: Task, backend: str, *, before: str, exclude: set[str],
             limit: int = EXAMPLES) -> list[Example]:
    """The most similar winners of other tasks on this backend, stored before `before`, none of `exclude`'s tasks,
    sharing at least one operator; most similar first, then fastest."""
    signature = task_signature(task)
    scored = []
    for entry in store.memory(backend=backend):
        if entry.task_hash in exclude or entry.created_at >= before:
            continue
        score = similarity(signature, entry.signature)
        shared = sorted(set(signature["ops"]) & set(entry.signature.get("ops") or ()))
        if shared:
            scored.append((score, entry.speedup_eager, entry, shared))
    scored.sort(key=lambda item: (-item[0], -item[1], item[2].id))
    chosen: list[Example] = []
    seen: set[str] = set()
    for _, speedup, entry, shared in scored:
        if entry.task_hash in seen:  # one winner per task: two of the same task teach less than two tasks
            continue
        seen.add(entry.task_hash)
        chosen.append(Example(task=entry.task, speedup_eager=speedup, source=entry.source, shared_ops=shared))
        if len(chosen) == limit:
            break
    return chosen
