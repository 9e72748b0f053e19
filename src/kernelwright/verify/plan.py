"""The correctness plan: which shapes, weight inits, distributions and probes a candidate faces."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .distributions import DISTRIBUTIONS, Distribution


class Shape(BaseModel):
    name: str
    overrides: dict[str, int]


class Trial(BaseModel):
    """One forward call whose outputs are compared with the float64 reference."""

    id: str
    shape: str
    init: int
    distribution: Distribution
    input_seed: int
    purpose: Literal["trial", "determinism", "same_address", "one_element", "new_address"] = "trial"
    source_trial: str | None = None
    reuse: str | None = None
    keep: bool = False


class Plan(BaseModel):
    seed: int
    device: str
    dtype: str
    shapes: list[Shape]
    inits: list[int]
    trials: list[Trial] = Field(default_factory=list)


def make_plan(seed: int, device: str, dtype: str, shapes: list[Shape], has_weights: bool) -> Plan:
    """Every distribution on every shape with the first init; the other init on the normal distribution;
    then the integrity probes on the first shape."""
    inits = [seed % 100_000 + 1, seed % 100_000 + 2] if has_weights else [seed % 100_000 + 1]
    plan = Plan(seed=seed, device=device, dtype=dtype, shapes=shapes, inits=inits)
    counter = 0

    def add(**fields: object) -> Trial:
        nonlocal counter
        trial = Trial(id=f"t{counter}", input_seed=seed * 7919 + counter, **fields)  # type: ignore[arg-type]
        counter += 1
        plan.trials.append(trial)
        return trial

    first = add(shape=shapes[0].name, init=inits[0], distribution="normal", keep=True)
    for shape in shapes:
        for distribution in DISTRIBUTIONS:
            if not (shape is shapes[0] and distribution == "normal"):
                add(shape=shape.name, init=inits[0], distribution=distribution)
        for init in inits[1:]:
            add(shape=shape.name, init=init, distribution="normal")
    second = next(t for t in plan.trials if t.shape == first.shape and t.distribution == "uniform")
    add(shape=first.shape, init=first.init, distribution="normal", purpose="determinism", source_trial=first.id)
    add(shape=first.shape, init=first.init, distribution="uniform", purpose="same_address",
        source_trial=second.id, reuse=first.id)
    add(shape=first.shape, init=first.init, distribution="normal", purpose="one_element", source_trial=first.id)
    return plan
