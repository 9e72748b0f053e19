"""How a search picks each sample's next round: beam (the top-k across samples, each expanded with a different
direction) and evolve (a quality-diversity program database). `chain` needs no strategy: each sample refines its own
best.

A strategy sees only what rounds before the current one stored, and draws its choices from a seed made of the task,
round and sample, so a resumed run makes the same choices and its stored replies answer the same prompts.
"""

from __future__ import annotations

import random
from typing import Literal, Protocol

from ..store import Program, Store
from .hints import Hint, hints_for
from .loop import Plan, TaskLoop, Tried

StrategyName = Literal["chain", "beam", "evolve"]


class Strategy(Protocol):
    def plans(self, round_index: int, loops: list[TaskLoop]) -> list[Plan]:
        """One plan per sample (retired samples included; they are not run)."""

    def after_round(self, round_index: int, tried: list[Tried]) -> None:
        """What the round's samples tried, once all of them finished it."""


def ranked(tried: list[Tried]) -> list[Tried]:
    """Timed candidates, fastest first; ties go to the earliest (round, then sample)."""
    timed = [t for t in tried if t.speedup is not None]
    return sorted(timed, key=lambda t: (-(t.speedup or 0.0), t.candidate.round, t.candidate.sample))


def all_tried(loops: list[TaskLoop]) -> list[Tried]:
    return [t for loop in loops for t in loop.tried]


def directions_used(tried: list[Tried]) -> dict[str, set[str]]:
    """Parent candidate id -> the directions already tried from it."""
    used: dict[str, set[str]] = {}
    for t in tried:
        if t.candidate.parent_id and t.candidate.hint:
            used.setdefault(t.candidate.parent_id, set()).add(t.candidate.hint)
    return used


def next_direction(hints: tuple[Hint, ...], start: int, taken: set[str]) -> Hint:
    """The first direction from `start` (wrapping) not yet taken from this parent; all taken: the one at `start`."""
    order = [hints[(start + i) % len(hints)] for i in range(len(hints))]
    return next((h for h in order if h.name not in taken), order[0])


def seeds(round_index: int, count: int, hints: tuple[Hint, ...]) -> list[Plan]:
    """Nothing timed yet: each sample seeds (or repairs its own latest) with its own direction."""
    return [Plan(hint=hints[(round_index * count + i) % len(hints)]) for i in range(count)]


class Beam:
    """Keeps the `width` fastest verified candidates of the task across its samples; sample i expands beam member
    i mod width, with a direction not yet tried from that member."""

    def __init__(self, width: int, backend: str) -> None:
        self.width, self.hints = max(1, width), hints_for(backend)

    def plans(self, round_index: int, loops: list[TaskLoop]) -> list[Plan]:
        tried = all_tried(loops)
        beam = ranked(tried)[:self.width]
        if not beam:
            return seeds(round_index, len(loops), self.hints)
        used = directions_used(tried)
        plans = []
        for i in range(len(loops)):
            parent = beam[i % len(beam)]
            taken = used.setdefault(parent.candidate.id, set())
            hint = next_direction(self.hints, round_index + i, taken)
            taken.add(hint.name)
            plans.append(Plan(parent=parent, hint=hint))
        return plans

    def after_round(self, round_index: int, tried: list[Tried]) -> None:
        pass


class Evolve:
    """A program database per task (the `programs` table): every timed candidate with its behaviour cell (roofline
    bound x direction). Parents: the best program with probability `exploit`, else the elite of a cell drawn
    uniformly (diversity); the Coder also sees the strongest elites of other cells as inspirations."""

    def __init__(self, store: Store, run_id: str, task_hash: str, backend: str, exploit: float = 0.5,
                 inspirations: int = 2) -> None:
        self.store, self.run_id, self.task_hash = store, run_id, task_hash
        self.hints, self.exploit, self.inspirations = hints_for(backend), exploit, inspirations

    def after_round(self, round_index: int, tried: list[Tried]) -> None:
        for t in tried:
            if t.speedup is None:
                continue
            roofline = t.profile.roofline if t.profile else None
            bound = roofline.bound if roofline else "unknown"
            hint = t.candidate.hint or "none"
            self.store.put_program(Program(
                run_id=self.run_id, task_hash=self.task_hash, candidate_id=t.candidate.id, sample=t.candidate.sample,
                round=t.candidate.round, speedup_eager=t.speedup, bound=bound, hint=hint, cell=f"{bound}/{hint}"))

    def elites(self, round_index: int) -> list[Program]:
        """The best program of each cell, from rounds before `round_index` (a resumed run stored later ones)."""
        best: dict[str, Program] = {}
        for program in self.store.programs(self.run_id, self.task_hash):
            if program.round >= round_index:
                continue
            held = best.get(program.cell)
            if held is None or program.speedup_eager > held.speedup_eager:
                best[program.cell] = program
        return sorted(best.values(), key=lambda p: (-p.speedup_eager, p.round, p.sample))

    def plans(self, round_index: int, loops: list[TaskLoop]) -> list[Plan]:
        tried = all_tried(loops)
        by_id = {t.candidate.id: t for t in tried}
        elites = [p for p in self.elites(round_index) if p.candidate_id in by_id]
        if not elites:
            return seeds(round_index, len(loops), self.hints)
        used = directions_used(tried)
        by_cell = sorted(elites, key=lambda p: p.cell)
        plans = []
        for i in range(len(loops)):
            rng = random.Random(f"{self.task_hash}:{round_index}:{i}")  # the same choices in every run
            chosen = elites[0] if rng.random() < self.exploit else rng.choice(by_cell)
            parent = by_id[chosen.candidate_id]
            others = [by_id[p.candidate_id] for p in elites if p.candidate_id != chosen.candidate_id]
            taken = used.setdefault(chosen.candidate_id, set())
            hint = next_direction(self.hints, rng.randrange(len(self.hints)), taken | {chosen.hint})
            taken.add(hint.name)
            plans.append(Plan(parent=parent, hint=hint, inspirations=others[:self.inspirations]))
        return plans
