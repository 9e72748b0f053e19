"""The correctness plan: which shapes, weight inits, distributions and probes a candidate faces."""

from __future__ import annotations

import math
import random
from typing import Literal

from pydantic import BaseModel, Field

from ..tasks.models import DTYPE_BYTES, Specs
from .distributions import DISTRIBUTIONS, Distribution

# The files of one correctness run together (inputs, float64 expected and eager outputs, the candidate's
# outputs): a task at its nominal GPU size can need gigabytes per trial (16384 x 16384 softmax: 5 GiB).
MAX_PLAN_BYTES = 8 * 2**30
# Calls run under the profiler (attribution), on the inputs of an unprofiled trial at the heaviest shape.
PROFILED_CALLS = 5


class Shape(BaseModel):
    name: str
    overrides: dict[str, int]
    # Bytes written for one trial at this shape: with fresh inputs (inputs, float64 expected, eager and candidate
    # outputs), and reusing another trial's inputs and expected (the candidate's outputs only). None: unknown.
    fresh_bytes: int | None = None
    reused_bytes: int | None = None


def sized_shape(name: str, overrides: dict[str, int], specs: Specs | None, dtype: str) -> Shape:
    """A shape with the bytes one trial writes there, from specs that include output shapes."""
    if specs is None or specs.outputs is None:
        return Shape(name=name, overrides=overrides)
    element = DTYPE_BYTES[dtype]
    outputs = [(o.numel() * element if o.is_float else o.nbytes(), o.numel() * 8 if o.is_float else o.nbytes())
               for o in specs.outputs if o.kind == "tensor"]
    inputs = sum(i.numel() * element if i.is_float else i.nbytes() for i in specs.inputs if i.kind == "tensor")
    candidate = sum(out for out, _ in outputs)
    return Shape(name=name, overrides=overrides, reused_bytes=candidate,
                 fresh_bytes=inputs + sum(2 * out + expected for out, expected in outputs))


class Trial(BaseModel):
    """One forward call whose outputs are compared with the float64 reference."""

    id: str
    shape: str
    init: int
    distribution: Distribution
    input_seed: int
    purpose: Literal["trial", "determinism", "same_address", "one_element", "new_address", "weights",
                     "profiled"] = "trial"
    source_trial: str | None = None
    weights_seed: int | None = None  # "weights": ModelNew built under `init`, then given the weights of this seed

    @property
    def model_id(self) -> str:
        """The reference model this trial runs: one per shape, init and (weights probe) weights seed."""
        return f"{self.shape}-{self.init}" + (f"-w{self.weights_seed}" if self.weights_seed else "")
    reuse: str | None = None
    keep: bool = False


# Probes that repeat their source trial's inputs, so its expected outputs.
REPEATS = ("determinism", "same_address", "profiled")


class Plan(BaseModel):
    seed: int
    device: str
    dtype: str
    shapes: list[Shape]
    inits: list[int]
    trials: list[Trial] = Field(default_factory=list)
    max_bytes: int | None = None
    thinned: list[Trial] = Field(default_factory=list)  # planned, then left out to keep within max_bytes

    def trial_bytes(self, trial: Trial) -> int:
        shape = next(s for s in self.shapes if s.name == trial.shape)
        reused = trial.purpose in REPEATS
        return (shape.reused_bytes if reused else shape.fresh_bytes) or 0

    def planned_bytes(self) -> int:
        return sum(self.trial_bytes(t) for t in self.trials)


def make_plan(seed: int, device: str, dtype: str, shapes: list[Shape], has_weights: bool,
              max_bytes: int | None = MAX_PLAN_BYTES) -> Plan:
    """Every distribution on every shape with the first init; the other init on the normal distribution;
    then the integrity probes on the first shape (and, for a task with weights, the weights probe). Over `max_bytes` of files, optional distributions of heavy
    shapes are left out (`_thin`), and if that is not enough the probes move to the lightest shape."""
    plan = _plan(seed, device, dtype, shapes, has_weights, max_bytes, shapes[0])
    lightest = min(shapes, key=lambda s: s.fresh_bytes if s.fresh_bytes is not None else 0)
    if max_bytes is not None and plan.planned_bytes() > max_bytes and lightest is not shapes[0]:
        plan = _plan(seed, device, dtype, shapes, has_weights, max_bytes, lightest)
    return plan


def _plan(seed: int, device: str, dtype: str, shapes: list[Shape], has_weights: bool, max_bytes: int | None,
          probe_shape: Shape) -> Plan:
    inits = [seed % 100_000 + 1, seed % 100_000 + 2] if has_weights else [seed % 100_000 + 1]
    plan = Plan(seed=seed, device=device, dtype=dtype, shapes=shapes, inits=inits, max_bytes=max_bytes)
    counter = 0

    def add(**fields: object) -> Trial:
        nonlocal counter
        trial = Trial(id=f"t{counter}", input_seed=seed * 7919 + counter, **fields)  # type: ignore[arg-type]
        counter += 1
        plan.trials.append(trial)
        return trial

    for shape in shapes:
        for distribution in DISTRIBUTIONS:
            add(shape=shape.name, init=inits[0], distribution=distribution,
                keep=shape is probe_shape and distribution == "normal")
        for init in inits[1:]:
            add(shape=shape.name, init=init, distribution="normal")
    first = next(t for t in plan.trials if t.keep)
    second = next(t for t in plan.trials if t.shape == first.shape and t.distribution == "uniform")
    add(shape=first.shape, init=first.init, distribution="normal", purpose="determinism", source_trial=first.id)
    add(shape=first.shape, init=first.init, distribution="uniform", purpose="same_address",
        source_trial=second.id, reuse=first.id)
    add(shape=first.shape, init=first.init, distribution="normal", purpose="one_element", source_trial=first.id)
    if has_weights:  # weights that no seeded construction makes: a ModelNew that ignores what it is given fails
        add(shape=first.shape, init=first.init, distribution="normal", purpose="weights",
            weights_seed=seed % 100_000 + 50_001)
    _add_profiled(plan, add, seed)
    _thin(plan)
    return plan


def _add_profiled(plan: Plan, add: object, seed: int) -> None:
    """PROFILED_CALLS calls on the inputs of the normal trial at the heaviest shape whose outputs fit an eighth of
    the budget, else the lightest (the candidate's work stands furthest above fixed per-call costs there), placed together at a
    position the secret seed picks after that trial."""
    fits = [s for s in plan.shapes if plan.max_bytes is None
            or (s.reused_bytes or 0) * PROFILED_CALLS <= plan.max_bytes // 8]
    fits = fits or [min(plan.shapes, key=lambda s: s.reused_bytes or 0)]
    heaviest = max(fits, key=lambda s: (s.fresh_bytes or 0, math.prod(s.overrides.values())))  # sizes unknown: most elements
    source = next(t for t in plan.trials if t.shape == heaviest.name and t.distribution == "normal"
                  and t.purpose == "trial")
    block = [add(shape=source.shape, init=source.init, distribution="normal", purpose="profiled",  # type: ignore[operator]
                 source_trial=source.id) for _ in range(PROFILED_CALLS)]
    rest = [t for t in plan.trials if t not in block]
    at = random.Random(seed ^ 0x9E3779B9).randint(rest.index(source) + 1, len(rest))
    plan.trials = rest[:at] + block + rest[at:]


def _thin(plan: Plan) -> None:
    """Leaves out optional distributions of heavy shapes (a trial over 1/16 of `max_bytes`), heaviest first,
    until the plan's files fit `max_bytes`. Never left out: the normal trial of every shape, each init's trial,
    the integrity probes and the trials they read, and anything at a light shape, which keeps every distribution."""
    if plan.max_bytes is None or plan.planned_bytes() <= plan.max_bytes:
        return
    needed = {t.source_trial for t in plan.trials if t.source_trial} | {t.reuse for t in plan.trials if t.reuse}
    heavy = plan.max_bytes // 16
    optional = [t for t in plan.trials if t.purpose == "trial" and t.distribution != "normal"
                and t.init == plan.inits[0] and t.id not in needed and plan.trial_bytes(t) > heavy]
    total = plan.planned_bytes()
    for trial in sorted(reversed(optional), key=plan.trial_bytes, reverse=True):  # the last distributions go first
        if total <= plan.max_bytes:
            break
        total -= plan.trial_bytes(trial)
        plan.thinned.append(trial)
    dropped = {t.id for t in plan.thinned}
    plan.trials = [t for t in plan.trials if t.id not in dropped]
