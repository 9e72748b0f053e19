"""What a run found for what it spent: the best-so-far speedups after each Coder call, against calls, tokens and
dollars, so two search strategies can be compared at equal spend."""

from __future__ import annotations

import math
import statistics

from pydantic import BaseModel

from ..store import Candidate, Verification
from .loaded import LoadedRun
from .metrics_models import Metrics

SPEND_RULE = ("After each Coder call (in the order they were made): the calls, tokens and dollars spent so far (Judge "
              "calls included) and, over all tasks of the run, the best PASS candidate found so far in any sample by "
              "its round's own timing: fast_1 is the share of tasks above 1.0x eager, the geomean counts a task "
              "without one as 1.0. The final re-timing is not used, so this can differ from the headline numbers.")


class SpendPoint(BaseModel):
    coder_calls: int
    tokens: int  # input + output, every call so far
    cost_usd: float
    fast_1: float
    geomean: float


class SpendRow(BaseModel):
    """One run's line of the comparison at equal spend."""

    label: str
    coder_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    fast_0: float | None  # headline (sample 0, final re-timing), as the metric table
    fast_1: float | None
    geomean: float | None
    found_fast_1: float | None  # the spend curve's last point (any sample, round timings)
    found_geomean: float | None


def spend_curve(loaded: LoadedRun, task_hashes: list[str]) -> list[SpendPoint]:
    """One point per Coder call, and a last one for calls made after it (a final Judge call)."""
    by_call = {c.llm_call_id: c for c in loaded.candidates if c.llm_call_id}
    best: dict[str, float] = {}
    points: list[SpendPoint] = []
    coder = tokens = 0
    cost = 0.0
    calls = sorted(loaded.llm_calls, key=lambda c: (c.created_at, c.id))
    for call in calls:
        tokens += call.tokens_in + call.tokens_out
        cost += call.cost_usd or 0.0
        if call.role != "coder":
            continue
        coder += 1
        candidate = by_call.get(call.id)
        speedup = _passing_speedup(loaded, candidate) if candidate else None
        if candidate is not None and speedup is not None:
            best[candidate.task_hash] = max(best.get(candidate.task_hash, 0.0), speedup)
        points.append(_point(coder, tokens, cost, best, task_hashes))
    if calls and (not points or points[-1].tokens != tokens or points[-1].cost_usd != cost):
        points.append(_point(coder, tokens, cost, best, task_hashes))
    return points


def spend_row(label: str, metrics: Metrics, curve: list[SpendPoint]) -> SpendRow:
    last = curve[-1] if curve else None
    return SpendRow(label=label, coder_calls=last.coder_calls if last else 0, input_tokens=metrics.input_tokens,
                    output_tokens=metrics.output_tokens, cost_usd=metrics.cost_usd,
                    fast_0=metrics.eager.fast_p.get("0"), fast_1=metrics.eager.fast_p.get("1.0"),
                    geomean=metrics.eager.geomean_all, found_fast_1=last.fast_1 if last else None,
                    found_geomean=last.geomean if last else None)


def _passing_speedup(loaded: LoadedRun, candidate: Candidate) -> float | None:
    rounds: list[Verification] = [v for v in loaded.verifications(candidate.id) if v.purpose != "final"]
    if not rounds or rounds[0].verdict != "PASS":
        return None
    speedup = (rounds[0].evidence.get("timing") or {}).get("speedup_eager")
    return float(speedup) if isinstance(speedup, (int, float)) and math.isfinite(speedup) and speedup > 0 else None


def _point(coder: int, tokens: int, cost: float, best: dict[str, float], tasks: list[str]) -> SpendPoint:
    values = [best.get(task, 1.0) for task in tasks] or [1.0]
    return SpendPoint(coder_calls=coder, tokens=tokens, cost_usd=cost,
                      fast_1=sum(best.get(task, 0.0) > 1.0 for task in tasks) / len(tasks) if tasks else 0.0,
                      geomean=math.exp(statistics.fmean(math.log(v) for v in values)))
