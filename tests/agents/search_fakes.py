"""A model and an executor for search tests, without kernels: a candidate's speed is written in its source.

The Coder reply's speed is its parent's (read from the prompt) times the factor of the direction it was given
(`Optimisation direction: NAME`), or of a direction picked from the prompt's hash when it was given none; `broken`
directions give a wrong result. The executor reads the speed back out of the source.
"""

from __future__ import annotations

import hashlib
import re
import threading

from kernelwright.evaluate.executor import LaneStats
from kernelwright.llm import CallContext, Completion, Message
from kernelwright.verify.models import VerificationResult

FACTORS = {"blocking": 1.5, "simd": 1.3, "threading": 1.8, "fusion": 1.1, "loop_order": 0.9, "memory_layout": 1.0}
BROKEN = {"memory_layout"}
SPEED = re.compile(r"^SPEED = ([0-9.]+)$", re.MULTILINE)
APPLIED = re.compile(r"^APPLIED = \"([a-z_,]*)\"$", re.MULTILINE)
DIRECTION = re.compile(r"^Optimisation direction: (\w+)$", re.MULTILINE)


def source(speed: float, applied: list[str], broken: bool = False) -> str:
    return (f"import torch.nn as nn\nSPEED = {speed:.4f}\nAPPLIED = \"{','.join(applied)}\"\nBROKEN = {broken}\n"
            "class ModelNew(nn.Module):\n    pass\n")


class SearchModel:
    """Coder replies as described above; Judge replies name no plan (free text is fine for the loop)."""

    spec = "test/search"

    def __init__(self, kill_after: int | None = None) -> None:
        self.kill_after, self.calls, self.contexts = kill_after, 0, []
        self.lock = threading.Lock()

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        with self.lock:
            self.calls += 1
            self.contexts.append(context)
            if self.kill_after is not None and self.calls > self.kill_after:
                import os
                import signal
                os.kill(os.getpid(), signal.SIGKILL)
        prompt = messages[-1].content
        if context.role == "judge":
            return Completion(text="Make it faster.", model="m", input_tokens=10, output_tokens=3, cost_usd=0.001)
        speeds, applied = SPEED.findall(prompt), APPLIED.findall(prompt)
        parent_speed = float(speeds[0]) if speeds else 1.0
        parent_applied = [a for a in applied[0].split(",") if a] if applied else []
        if "BROKEN = True" in prompt:  # a repair: the same kernel, fixed
            text = source(parent_speed, parent_applied)
            return Completion(text=f"Fixed.\n```python\n{text}```\n", model="m", input_tokens=100,
                              output_tokens=50, cost_usd=0.01)
        named = DIRECTION.findall(prompt)
        direction = named[0] if named else sorted(FACTORS)[int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 6]
        if direction in parent_applied:
            text = source(parent_speed, parent_applied)
        else:
            text = source(parent_speed * FACTORS[direction], parent_applied + [direction], direction in BROKEN)
        return Completion(text=f"Plan.\n```python\n{text}```\n", model="m", input_tokens=100, output_tokens=50,
                          cost_usd=0.01)


class SearchExecutor:
    lanes = 1

    def __init__(self) -> None:
        self.verified = 0

    def build(self, task, source_text, options, on_phase=None) -> list:
        return []

    def verify(self, task, source_text, options, on_phase=None) -> VerificationResult:
        self.verified += 1
        if "BROKEN = True" in source_text:
            return VerificationResult(verdict="INCORRECT", summary="wrong", task=task.ref, task_hash=task.hash,
                                      device="cpu")
        speed = float(SPEED.findall(source_text)[0])
        return VerificationResult(verdict="PASS", summary="pass", task=task.ref, task_hash=task.hash, device="cpu",
                                  timing={"speedup_eager": speed}, perf="PERF_VALID")  # type: ignore[arg-type]

    def profile(self, *args, **kwargs):
        raise AssertionError("profiling is off in these tests")

    def stats(self) -> LaneStats:
        return LaneStats()
