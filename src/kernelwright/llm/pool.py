"""`scripted/NAME` whose script has a `pool`: replies drawn from a fixed pool of kernel variants per task.

A pool gives each task variants labelled by the optimisations they apply (`base`, `threading`, `fusion+simd`, ...;
labels sorted, joined by `+`) and broken ones (`LABELS!compile_error`, `LABELS!wrong_result`). Each variant file
starts with a marker line `# pool: TASK/LABEL`, by which a later prompt names its parent. For comparing search
strategies at an equal number of Coder calls without an LLM.

Reply rule, deterministic in the prompt (a resumed run gets the same replies); `h` is a hash of the prompt text:

- Coder: the parent is the variant whose marker for this task comes first in the prompt (none for a seed, or when
  no marker is there). The direction is the prompt's `Optimisation direction: NAME`, else `directions[h % n]` (a
  chain without hints wanders). A seed gets the variant {direction} when the pool has it, else `base`. A repair of
  a broken parent gets the correct variant of the broken one's labels (the fix). Otherwise the reply is the variant
  labelled parent ∪ {direction} when the direction is new and the pool has it; else one of the task's broken
  variants or the parent unchanged, chosen by `h`.
- Judge: a correction (a broken variant's `issue` and `fix`) or an optimisation naming the first direction that
  the pool can still add to the candidate, as the call's purpose asks; a reformat call gets both objects.

Tokens are whitespace-separated words, as for ScriptedModel; cost is $1 per million input and $5 per million
output words, so dollar budgets and comparisons mean something. A task without a pool gets RepliesExhausted (its
loop ends); a task with one never runs out.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .models import CallContext, Completion, LLMError, Message, RepliesExhausted, Role
from .scripted import resolve_script, word_count
from .sdk_errors import one_line

CPU_DIRECTIONS = ("blocking", "simd", "threading", "fusion", "loop_order", "memory_layout")
INPUT_USD_PER_WORD = 1e-6
OUTPUT_USD_PER_WORD = 5e-6
MARKER = re.compile(r"^#[ \t]*pool:[ \t]*(\S+)/(\S+)[ \t]*$", re.MULTILINE)
DIRECTION = re.compile(r"Optimisation direction:[ \t*_`]*(\w+)")
BASE = "base"

ADVICE: dict[str, tuple[str, str, list[str]]] = {  # direction -> bottleneck, optimisation, plan
    "threading": ("Only one core works: the outer loop runs serially.",
                  "Parallelise the independent outer loop with OpenMP.",
                  ["#pragma omp parallel for schedule(static) over the independent rows", "keep per-row state local"]),
    "simd": ("The reductions run one lane at a time: a float reduction does not vectorise without permission.",
             "Vectorise the reductions and elementwise loops with `#pragma omp simd` and restrict pointers.",
             ["#pragma omp simd reduction(...) on each reduction", "#pragma omp simd on the elementwise loops"]),
    "fusion": ("The row is read and written more often than needed: passes that could share a loop are separate.",
               "Fuse the passes so each element is computed once and written once.",
               ["keep what the first pass computes in the output", "finish with one scaling pass"]),
    "loop_order": ("The innermost loop strides through memory: each element of a row comes from another line.",
                   "Reorder the loops so the innermost loop walks contiguous memory.",
                   ["accumulate whole rows into a row buffer", "write the buffer out once per batch"]),
    "blocking": ("The working set spills the caches.", "Process the data in cache-sized blocks.",
                 ["split the loop into blocks that fit in L2", "reuse each block before moving on"]),
    "memory_layout": ("The data layout forces strided access.", "Change the layout for contiguous access.",
                      ["transpose once into a contiguous buffer", "run the kernel on the contiguous copy"]),
}


class PoolVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str  # relative to the script
    issue: str = ""  # a broken variant: what is wrong (the Judge's critical issue)
    fix: str = ""  # and its minimal fix


class TaskPool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: dict[str, PoolVariant]  # label -> variant


class PoolScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about: str = ""
    directions: list[str] = list(CPU_DIRECTIONS)  # what a prompt without a hint may pick from
    pool: dict[str, TaskPool]  # task (`levelN/NAME` or `NAME`) -> its variants


def labels_of(label: str) -> frozenset[str]:
    """The optimisations a label applies (`base` applies none; a broken label's bug is left out)."""
    applied = label.split("!", 1)[0]
    return frozenset() if applied == BASE else frozenset(applied.split("+"))


def label_for(applied: frozenset[str]) -> str:
    return "+".join(sorted(applied)) or BASE


def is_pool_script(path: Path) -> bool:
    """Whether the JSON script at `path` holds a pool (a JSON object with a `pool` key)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "pool" in data


def load_pool(path: Path) -> tuple[PoolScript, dict[str, dict[str, str]]]:
    """The pool and each task's variant sources by label; every variant must carry its own marker."""
    try:
        script = PoolScript.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LLMError(f"cannot read pool script {path}: {one_line(str(e))}") from e
    except ValidationError as e:
        first = e.errors()[0]
        raise LLMError(f"pool script {path}: {'.'.join(map(str, first['loc']))}: {one_line(first['msg'])}") from e
    sources: dict[str, dict[str, str]] = {}
    for task, pool in script.pool.items():
        short = task.rsplit("/", 1)[-1]
        sources[task] = {}
        for label, variant in pool.variants.items():
            try:
                text = (path.parent / variant.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise LLMError(f"pool script {path}: cannot read {variant.file}: {one_line(str(e))}") from e
            if f"# pool: {short}/{label}" not in text:
                raise LLMError(f"pool script {path}: {variant.file} lacks its marker `# pool: {short}/{label}`")
            sources[task][label] = text
    return script, sources


class PoolModel:
    """Replies from a pool of kernel variants by the rule in this module's docstring."""

    def __init__(self, name: str, path: Path | None = None) -> None:
        self.name = name
        self.spec = f"scripted/{name}"
        self.path = path or resolve_script(name)
        self.script, self._sources = load_pool(self.path)

    @property
    def tasks(self) -> list[str]:
        return list(self.script.pool)

    def _task(self, task: str | None) -> str | None:
        if task is None:
            return None
        for name in (task, task.rsplit("/", 1)[-1]):
            for key in self.script.pool:
                if name in (key, key.rsplit("/", 1)[-1]):
                    return key
        return None

    def remaining(self, role: Role, sequence: int = 0, task: str | None = None) -> int:
        return sys.maxsize if self._task(task) else 0

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        key = self._task(context.task)
        if key is None:
            raise RepliesExhausted(f"pool model {self.name} has no kernels for task {context.task} "
                                   f"(it has {', '.join(self.script.pool)})")
        prompt = "\n".join(m.content for m in messages if m.role != "system")
        if context.role == "coder":
            label = self.coder_label(key, prompt, context.purpose)
            applied = sorted(labels_of(label))
            prose = f"This version applies {', '.join(applied)}." if applied else "A plain version, no optimisation yet."
            text = f"{prose}\n\n```python\n{self._sources[key][label].strip()}\n```\n"
        else:
            text = self.judge_reply(key, prompt, context.purpose)
        tokens_in = sum(word_count(m.content) for m in messages)
        tokens_out = word_count(text)
        return Completion(text=text, model=self.spec, input_tokens=tokens_in, output_tokens=tokens_out,
                          cost_usd=tokens_in * INPUT_USD_PER_WORD + tokens_out * OUTPUT_USD_PER_WORD,
                          latency_s=0.0, finish_reason="stop")

    def parent(self, key: str, prompt: str) -> str | None:
        """The label of the first marker of this task's variants in the prompt."""
        short = key.rsplit("/", 1)[-1]
        for task, label in MARKER.findall(prompt):
            if task == short and label in self._sources[key]:
                return label
        return None

    def coder_label(self, key: str, prompt: str, purpose: str) -> str:
        """The label of the variant a Coder call with this prompt gets."""
        variants = self._sources[key]
        h = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big")
        hinted = DIRECTION.search(prompt)
        directions = self.script.directions or list(CPU_DIRECTIONS)
        direction = hinted.group(1) if hinted else directions[h % len(directions)]
        parent = None if purpose == "seed" else self.parent(key, prompt)
        if parent is None:
            return direction if direction in variants else BASE
        if "!" in parent and label_for(labels_of(parent)) in variants:
            return label_for(labels_of(parent))
        applied = labels_of(parent)
        target = label_for(applied | {direction})
        if direction not in applied and target in variants:
            return target
        fallback = sorted(label for label in variants if "!" in label) + [parent]
        return fallback[h % len(fallback)]

    def judge_reply(self, key: str, prompt: str, purpose: str) -> str:
        label = self.parent(key, prompt) or BASE
        objects = []
        if purpose != "optimisation":
            variant = self.script.pool[key].variants.get(label)
            issue = variant.issue if variant and variant.issue else "The candidate fails the verifier's checks."
            fix = variant.fix if variant and variant.fix else "Return to the last correct version of the code."
            objects.append({"critical_issue": issue, "evidence": "the verifier's evidence above", "fix": fix})
        if purpose != "correction":
            objects.append(self._optimisation(key, labels_of(label)))
        return "\n\n".join(f"```json\n{json.dumps(obj)}\n```" for obj in objects)

    def _optimisation(self, key: str, applied: frozenset[str]) -> dict[str, Any]:
        variants = self._sources[key]
        missing = [d for d in self.script.directions if d not in applied and label_for(applied | {d}) in variants]
        if not missing:
            return {"bottleneck": "No known bottleneck is left: the candidate applies every optimisation tried.",
                    "evidence": ["every optimisation direction is applied"],
                    "optimisation": "Keep the kernel as it is.", "plan": ["change nothing"]}
        bottleneck, optimisation, plan = ADVICE.get(missing[0], (f"{missing[0]} is not applied yet.",
                                                                f"Apply {missing[0]}.", [f"apply {missing[0]}"]))
        applied_text = ", ".join(sorted(applied)) or "none"
        return {"bottleneck": bottleneck, "evidence": [f"optimisations applied so far: {applied_text}"],
                "optimisation": optimisation, "plan": plan}

    def preflight(self) -> None:
        if not self.path.is_file():
            raise LLMError(f"pool model {self.name}: {self.path} no longer exists")

    def __repr__(self) -> str:
        return f"PoolModel({self.spec!r})"
