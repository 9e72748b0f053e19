"""What both timing workers run: a subject's measure (CPU clock, CUDA events, CUDA-graph replay), the warm-up, and
the turn loop `_rounds`, in which every turn the parent gives runs one block of timed calls of one subject.

Every call gets fresh content in the same working buffers (written outside the timed window) from a seed taken
from the OS just before it (`load(seed)`). CPU: perf_counter_ns around the call. CUDA: before every timed call the
persisting L2 lines are reset and L2 is flushed; a start event, the call, a plain end event, a device-wide
synchronize, a synced end event (both times reported). Kernels shorter than `graph_below_ms` are timed by CUDA-graph
replay of many calls instead, when the parent says so (PREPARE).

In the candidate's worker these functions run as private copies (`sealed.private_functions`): rebinding this
module's globals after the candidate loads changes nothing they call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from ..sandbox.turns import BLOCK, PREPARE, STOP, WARM, TurnChannel, TurnError
from .cuda_timing import CudaPrimitives, recover
from .stats import median

_perf_ns = time.perf_counter_ns
_monotonic = time.monotonic

Outputs = list[Any]
# the call's input seed -> (outputs, synced ms, plain ms)
Measure = Callable[[int], tuple[Outputs, float, float | None]]
# after each timed call: subject, call number, input seed, outputs
OnCall = Callable[[str, int, int, Outputs], None]


class StageError(Exception):
    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.cause = stage, cause


class stage:
    """Labels failures with the step they happened in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and not isinstance(exc, StageError) and isinstance(exc, Exception):
            raise StageError(self.name, exc) from exc
        return False


def _rounds(channel: TurnChannel, subjects: dict[str, Callable[..., Any]], load: Callable[[int], None],
            work: list[Any], settings: dict[str, Any], prims: CudaPrimitives | None, result: dict[str, Any],
            deadline: float, entropy: Callable[[], int], on_call: OnCall) -> None:
    """Serves the parent's turns until STOP: WARM, PREPARE (the timing method) and BLOCK (timed calls)."""
    plain = {name: (_cpu_measure(fn, load, work) if prims is None else _event_measure(fn, load, work, prims))
             for name, fn in subjects.items()}
    measures = dict(plain)
    entries = {name: result["subjects"].setdefault(name, {}) for name in subjects}
    for entry in entries.values():
        entry.update(samples_ms=[], plain_ms=[], rounds=[])
    counters = dict.fromkeys(subjects, 0)
    block, last_round = int(settings["block_calls"]), -1
    result["method"], result["calls_per_sample"] = ("perf_counter" if prims is None else "cuda_events"), 1
    while True:
        turn = channel.wait()
        if turn.kind == STOP:
            break
        if turn.kind == WARM:
            medians = _warmup(measures, settings, result, deadline, entropy)
            channel.done(turn, [medians[name] for name in subjects])
        elif turn.kind == PREPARE:
            measures = _prepare(turn.calls, subjects, plain, load, work, prims, result, entropy)
            channel.done(turn, [1.0 if result["calls_per_sample"] == max(1, turn.calls) else 0.0])
        elif turn.kind == BLOCK and turn.subject in measures:
            name, entry, samples = turn.subject, entries[turn.subject], []
            with stage(f"timed calls ({name})"):
                wall_began = _perf_ns()
                for _ in range(block):
                    call, seed = counters[name], entropy()
                    outputs, synced, plain_ms = measures[name](seed)
                    on_call(name, call, seed, outputs)
                    samples.append(synced)
                    entry["samples_ms"].append(synced)
                    entry["plain_ms"].append(plain_ms)
                    entry["rounds"].append(turn.round)
                    counters[name] = call + 1
                wall_ms = (_perf_ns() - wall_began) / 1e6
            result["blocks"].append({"subject": name, "round": turn.round, "wall_ms": wall_ms,
                                     "events_ms": sum(samples) * result["calls_per_sample"]})
            last_round = max(last_round, turn.round)
            channel.done(turn, samples)
        else:
            raise StageError("turns", TurnError(f"a turn this worker cannot take (kind {turn.kind}, "
                                                f"subject {turn.subject})"))
    result["rounds"] = last_round + 1
    if prims is None:
        for entry in entries.values():
            entry.pop("plain_ms", None)


def _prepare(calls: int, subjects: dict[str, Callable[..., Any]], plain: dict[str, Measure],
             load: Callable[[int], None], work: list[Any], prims: CudaPrimitives | None, result: dict[str, Any],
             entropy: Callable[[], int]) -> dict[str, Measure]:
    """The measures for the parent's method: plain (events or the CPU clock), or CUDA-graph replay of `calls`."""
    if prims is None or calls <= 0:
        result["calls_per_sample"] = 1
        result["method"] = "perf_counter" if prims is None else "cuda_events"
        return plain
    graphs: dict[str, Measure] = {}
    for name, fn in subjects.items():
        try:
            graphs[name] = _graph_measure(name, fn, load, work, prims, calls, entropy)
        except Exception as exc:
            first = (f"{type(exc).__name__}: {exc}".strip().splitlines() or [""])[0][:300]
            result["notes"].append(f"CUDA-graph timing not possible for {name} ({first})")
            recover(prims)
            result["calls_per_sample"], result["method"] = 1, "cuda_events"
            return plain
    result["calls_per_sample"], result["method"] = calls, "cuda_graph"
    return graphs


def _warmup(measures: dict[str, Measure], settings: dict[str, Any], result: dict[str, Any], deadline: float,
            entropy: Callable[[], int]) -> dict[str, float]:
    """Per subject: >= warmup_calls calls and >= warmup_ms of calls (at most warmup_max_s). Returns medians."""
    medians = {}
    for name, measure in measures.items():
        times: list[float] = []
        began = _perf_ns()
        with stage(f"warm-up ({name})"):
            while True:
                _, synced, _ = measure(entropy())
                times.append(synced)
                spent = (_perf_ns() - began) / 1e9
                enough = len(times) >= settings["warmup_calls"] and spent * 1e3 >= settings["warmup_ms"]
                if enough or (len(times) >= 2 and (spent >= settings["warmup_max_s"] or _monotonic() > deadline)):
                    break
        medians[name] = median(times)
        result["subjects"].setdefault(name, {})["warmup"] = {"calls": len(times), "median_ms": medians[name]}
        if len(times) < settings["warmup_calls"]:
            result["notes"].append(f"{name}: warm-up cut to {len(times)} calls by the warm-up time cap")
    return medians


def _cpu_measure(fn: Callable[..., Any], load: Callable[[int], None], work: list[Any]) -> Measure:
    def measure(seed: int) -> tuple[Outputs, float, float | None]:
        load(seed)
        began = _perf_ns()
        out = fn(*work)
        ended = _perf_ns()
        return _as_list(out), (ended - began) / 1e6, None

    return measure


def _event_measure(fn: Callable[..., Any], load: Callable[[int], None], work: list[Any],
                   prims: CudaPrimitives) -> Measure:
    start, plain, synced = prims.event(), prims.event(), prims.event()

    def measure(seed: int) -> tuple[Outputs, float, float | None]:
        load(seed)
        prims.flush_l2()
        prims.record(start)
        out = fn(*work)
        prims.record(plain)
        prims.device_sync()  # work on any stream of the device must be done before the synced end event
        prims.record(synced)
        prims.event_sync(synced)
        return _as_list(out), prims.elapsed(start, synced), prims.elapsed(start, plain)

    return measure


def _graph_measure(name: str, fn: Callable[..., Any], load: Callable[[int], None], work: list[Any],
                   prims: CudaPrimitives, calls: int, entropy: Callable[[], int]) -> Measure:
    """Capture `calls` calls in one CUDA graph; a sample is one replay, divided by `calls`. The capture is
    checked: a replay on new input content must give what a plain call gives (work launched outside the
    capture, e.g. on another stream, would not be replayed)."""
    load(entropy())
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn(*work)
    torch.cuda.current_stream().wait_stream(side)
    prims.device_sync()
    graph = torch.cuda.CUDAGraph()
    out: Any = None
    with torch.cuda.graph(graph):
        for _ in range(calls):
            out = fn(*work)
    static = _as_list(out)
    load(entropy())  # content the capture never saw
    graph.replay()
    prims.device_sync()
    replayed = [o.clone() if isinstance(o, torch.Tensor) else o for o in static]
    direct = _as_list(fn(*work))
    prims.device_sync()
    for got, want in zip(replayed, direct):
        if isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor):
            if got.shape != want.shape or not _close(got, want):
                raise RuntimeError(f"{name}: a graph replay on new inputs does not reproduce a plain call "
                                   "(work outside the captured stream?)")
    start, plain, synced = prims.event(), prims.event(), prims.event()

    def measure(seed: int) -> tuple[Outputs, float, float | None]:
        load(seed)
        prims.flush_l2()
        prims.record(start)
        graph.replay()
        prims.record(plain)
        prims.device_sync()
        prims.record(synced)
        prims.event_sync(synced)
        return static, prims.elapsed(start, synced) / calls, prims.elapsed(start, plain) / calls

    return measure


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if not a.is_floating_point():
        return bool(torch.equal(a, b))
    a64, b64 = a.double(), b.double()
    scale = float(b64.abs().max()) if b64.numel() else 0.0
    return bool(torch.allclose(a64, b64, rtol=1e-3, atol=1e-3 * max(scale, 1e-30), equal_nan=True))


def _as_list(out: Any) -> Outputs:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def graph_calls(short_ms: float, settings: dict[str, Any]) -> int:
    """Calls per CUDA-graph replay for a call of `short_ms`: about graph_target_ms a replay, within bounds."""
    return int(min(settings["graph_max_calls"],
                   max(8, math.ceil(settings["graph_target_ms"] / max(short_ms, 1e-4)))))
