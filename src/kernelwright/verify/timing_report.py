"""What a timing measures and reports, and the statistics over its samples: pure, imported by the orchestrator
(`timing`), its judge (`timing_judge`) and the stores and reports that read timings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from .flags import Flag
from .stats import relative_standard_error

Method = Literal["perf_counter", "cuda_events", "cuda_graph"]
# Timing-worker stages that are the harness's own failure, not the candidate's: none (everything in the
# candidate's timing worker after the seal runs beside candidate code; the baseline worker's failures are judged apart).
HARNESS_STAGES: tuple[str, ...] = ()
REMEASURE_ABOVE = 3.0  # the protocol: a speedup over this many times eager counts only once re-measured
Perf = Literal["PERF_VALID", "PERF_INVALID"]


class TimingSettings(BaseModel):
    """Knobs of the timing protocol (the defaults follow the verification reference; the report states them)."""

    warmup_ms: float = 25.0
    warmup_calls: int = 10
    warmup_max_s: float = 5.0
    block_calls: int = 5
    min_samples: int = 30
    max_samples: int = 300
    max_seconds: float = 20.0
    target_rse: float = 0.01
    graph_below_ms: float = 0.05  # synced per-call time below which CUDA-graph replay is used
    graph_target_ms: float = 1.0
    graph_max_calls: int = 200
    checks_always: int = 60  # the first this many timed candidate calls are all checked, later call k with
                             # probability checks_always / (k + 1) (see call_checks)
    check_elements: int = 1 << 16  # a checked output with more elements hands back this many, drawn after the call
    bootstrap: int = 2000
    confidence: float = 0.95
    stream_escape_ms: float = 0.015  # candidate's (synced - plain) beyond eager's, above which work escaped
    stream_escape_fraction: float = 0.15
    sync_overhead_cap_ms: float = 0.05  # the worker's measured sync cost (and the eager gap) count up to this much
    remeasure_above: float = REMEASURE_ABOVE


class SubjectTiming(BaseModel):
    """One timed subject: eager (the task's Model), compile (torch.compile of it) or candidate."""

    median_ms: float
    iqr_ms: float
    mean_ms: float
    n: int
    rse: float | None = None  # IQR-based relative standard error of the median
    samples_ms: list[float]  # CUDA: the synced time less the sync's own cost, never below the plain time
    rounds: list[int] = Field(default_factory=list)  # the round (block) each sample belongs to
    synced_ms: list[float] | None = None  # CUDA: start -> end event recorded after a device-wide sync, as measured
    plain_ms: list[float] | None = None  # CUDA: start -> plain end event (no device-wide sync)
    plain_median_ms: float | None = None
    stream_ratio: float | None = None  # median plain / median synced
    warmup_calls: int | None = None


class TimingReport(BaseModel):
    device: str
    shape_overrides: dict[str, int]
    method: Method | None = None
    calls_per_sample: int = 1
    threads: int | None = None
    subjects: dict[str, SubjectTiming] = Field(default_factory=dict)
    speedup_eager: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    faster: bool | None = None  # True: CI above 1; False: CI below 1 (slower); None: CI holds 1 or no CI
    speedup_compile: float | None = None
    ci_compile_low: float | None = None
    ci_compile_high: float | None = None
    faster_than_compile: bool | None = None
    stream_ratio: float | None = None
    floor_ms: float | None = None
    floor: dict[str, Any] | None = None
    flops: int | None = None
    effective_flops: int | None = None
    bytes: int | None = None
    perf: Perf = "PERF_INVALID"
    flags: list[Flag] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    hardware: dict[str, Any] = Field(default_factory=dict)
    rechecked: int = 0  # timed candidate calls checked
    # The chance that checking catches a candidate that skips its work on any 5% of its timed calls, even the
    # ones least likely to be checked (which calls are checked is decided after each call; see call_checks).
    recheck_catches_5pct: float | None = None
    recheck_failures: list[str] = Field(default_factory=list)
    candidate_init_ms: float | None = None  # ModelNew(...) construction (weight preprocessing), timed apart
    compile_error: str | None = None
    compile_seconds: float | None = None
    stop_reason: str | None = None
    rounds: int = 0
    own_calls: dict[str, int] = Field(default_factory=dict)
    l2: dict[str, Any] | None = None  # CUDA: flush buffer size, how persisting L2 lines were reset
    sync_overhead_ms: float | None = None  # CUDA: what a device-wide sync adds to a synced sample (taken off)
    remeasure: bool = False  # the speedup exceeds settings.remeasure_above: it counts only once re-measured
    remeasured: list[float | None] = Field(default_factory=list)  # both speedups vs eager, when it was re-measured
    settings: dict[str, Any] = Field(default_factory=dict)
    wall_s: float = 0.0
    # the candidate's timing worker just before the load (workers.preload.preload_state), compared with the
    # correctness worker's by the pipeline; not stored
    preload: dict[str, Any] | None = Field(default=None, exclude=True)


class SpeedupEstimate(BaseModel):
    speedup: float
    ci_low: float | None
    ci_high: float | None
    faster: bool | None
    rounds: int


def summarize(samples_ms: Sequence[float], plain_ms: Sequence[float | None] | None = None,
              rounds: Sequence[int] | None = None) -> SubjectTiming:
    values = np.asarray(samples_ms, dtype=float)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    timing = SubjectTiming(median_ms=float(median), iqr_ms=float(q3 - q1), mean_ms=float(values.mean()),
                           n=int(values.size), rse=relative_standard_error(values),
                           samples_ms=[float(v) for v in values],
                           rounds=[int(r) for r in rounds] if rounds is not None else [])
    if plain_ms is not None and len(plain_ms) == values.size and all(p is not None for p in plain_ms):
        plain = np.asarray(plain_ms, dtype=float)
        timing.plain_ms = [float(p) for p in plain]
        timing.plain_median_ms = float(np.median(plain))
        timing.stream_ratio = float(np.median(plain) / median) if median > 0 else None
    return timing


def block_medians(samples_ms: Sequence[float], rounds: Sequence[int]) -> dict[int, float]:
    groups: dict[int, list[float]] = {}
    for value, round_index in zip(samples_ms, rounds):
        groups.setdefault(int(round_index), []).append(float(value))
    return {r: float(np.median(v)) for r, v in groups.items()}


def paired_speedup(base_ms: Sequence[float], base_rounds: Sequence[int], cand_ms: Sequence[float],
                   cand_rounds: Sequence[int], *, seed: int, resamples: int = 2000,
                   confidence: float = 0.95) -> SpeedupEstimate:
    """speedup = median(base) / median(candidate); its CI from a paired bootstrap of the per-round block medians
    (the rounds are resampled with replacement; within a resample the ratio of the medians of the chosen block
    medians is taken). `faster` is True only when the whole interval lies above 1."""
    speedup = float(np.median(base_ms) / np.median(cand_ms))
    base_blocks, cand_blocks = block_medians(base_ms, base_rounds), block_medians(cand_ms, cand_rounds)
    shared = sorted(set(base_blocks) & set(cand_blocks))
    if len(shared) < 3:
        return SpeedupEstimate(speedup=speedup, ci_low=None, ci_high=None, faster=None, rounds=len(shared))
    base = np.array([base_blocks[r] for r in shared])
    cand = np.array([cand_blocks[r] for r in shared])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(shared), size=(max(1000, resamples), len(shared)))
    ratios = np.median(base[picks], axis=1) / np.median(cand[picks], axis=1)
    tail = (1.0 - confidence) / 2
    low, high = (float(v) for v in np.quantile(ratios, [tail, 1.0 - tail]))
    faster = True if low > 1.0 else False if high < 1.0 else None
    return SpeedupEstimate(speedup=speedup, ci_low=low, ci_high=high, faster=faster, rounds=len(shared))


# ---------------------------------------------------------------------------------------------- the phase
