"""Timing worker: times the candidate against the task's own Model (and a torch.compile of it), interleaved.

Runs isolated (see kernelwright.sandbox.isolation), after every build is done. It holds no expected outputs
and decides nothing: it writes raw per-call samples, the outputs of the timed candidate calls the
orchestrator picked, and what it observed (global flags, patched torch functions, output types). The trusted
orchestrator (`kernelwright.verify.timing`) does the statistics, the re-check and the verdict.

Protocol, per subject (eager = the task's Model, compile = torch.compile of it, candidate = ModelNew):
- warm-up: at least `warmup_calls` calls and `warmup_ms` of calls (capped by `warmup_max_s`);
- rounds: in each round every subject runs one block of `block_calls` timed calls, in an order that rotates
  by one subject per round;
- inputs: every call gets fresh content in the same working buffers (written outside the timed window): float64
  normal draws from a seed the worker takes from the OS just before the call, mapped into the task's input domain
  and cast (`distributions.seeded_draws`). No content is ever repeated, so caching outputs gains nothing, and
  nothing in this process says which calls will be checked: after each timed candidate call the worker asks the
  trusted parent over the call channel (`Sealed.ask`, see kernelwright.verify.call_checks), and only then hands
  back that call's outputs (whole, or a sample of elements the answer's seed picks) if it was chosen;
- stop when the median's relative standard error of the candidate and of the eager baseline is below
  `target_rse`, or at `max_samples` per subject, `max_seconds` of rounds, or the phase deadline.

CPU: perf_counter_ns around each call, thread count pinned. CUDA: before every timed call the persisting L2
lines are reset and L2 is flushed (a buffer of 2x L2 is zeroed, outside the timed window, which also keeps the
queue busy so launch latency is hidden); a start event, the call, a plain end event, a device-wide
synchronize, a synced end event. Both times are reported, with the sync's own cost (measured before the
candidate is imported); the orchestrator's sample is the synced time less that cost, never below the plain
time, so work that escaped to another stream still counts and the sync's latency does not; plain/synced
reveals the escape. Kernels shorter than `graph_below_ms` are timed by CUDA-graph replay of many calls instead.

Usage: python -m kernelwright.verify.timing_worker JOB_DIR  (reads and deletes request.json, writes result.json)
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..sandbox.candidate_loading import CountingExtension, adopt_weights, cached_loader, exec_candidate
from ..sandbox.sealed import Sealed, private_functions, seal
from ..sandbox.worker_result import error_record
from ..tasks.instantiate import TORCH_DTYPES as DTYPES
from .distributions import seeded_draws
from .stats import median, relative_standard_error

# Captured before any candidate code runs: replacing them later (time.perf_counter_ns = ...) changes nothing here.
_perf_ns = time.perf_counter_ns
_monotonic = time.monotonic
_torch_save = torch.save
_zero_ = torch.Tensor.zero_

SUBJECT_ORDER = ("eager", "compile", "candidate")

DEFAULTS: dict[str, Any] = {
    "warmup_ms": 25.0, "warmup_calls": 10, "warmup_max_s": 5.0,
    "block_calls": 5, "min_samples": 30, "max_samples": 300, "max_seconds": 20.0, "target_rse": 0.01,
    "graph_below_ms": 0.05, "graph_target_ms": 1.0, "graph_max_calls": 200, "deadline_s": 280.0,
}

Outputs = list[Any]
# the call's input seed -> (outputs, synced ms, plain ms)
Measure = Callable[[int], tuple[Outputs, float, float | None]]


class StageError(Exception):
    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(stage)
        self.stage, self.cause = stage, cause


# ---------------------------------------------------------------------------------------------- entry


def run(job: Path) -> dict[str, Any]:
    started = _monotonic()
    request = json.loads((job / "request.json").read_text())
    (job / "request.json").unlink()
    result: dict[str, Any] = {"ok": True, "notes": [], "subjects": {}, "blocks": [], "checks": [],
                              "bad_outputs": [], "patched": [], "state": {}, "own_calls": {}}
    # Bound before the candidate loads (see kernelwright.sandbox.sealed): the call channel, the checked outputs,
    # the report and every function that runs after the import reach nothing the candidate can rebind by name.
    channel = request.get("channel")
    sealed = seal(str(job), watched=globals(), channel=(int(channel[0]), int(channel[1])) if channel else None)
    after = private_functions(globals(), [name for name, value in globals().items()
                                          if isinstance(value, types.FunctionType) and value.__module__ == __name__])
    stage_error, describe = StageError, _error
    try:
        after["_run"](job, request, result, started, sealed, after)
    except stage_error as exc:
        result.update(ok=False, stage=exc.stage, **describe(exc.cause))
    except Exception as exc:  # the harness's own failure: still a report, never a silent crash
        result.update(ok=False, stage="worker", **describe(exc))
    result["tampering"] = sealed.tampering()
    sealed.report("result.json", result)
    return result


def _run(job: Path, request: dict[str, Any], result: dict[str, Any], started: float, sealed: Sealed,
         after: dict[str, Any]) -> None:
    settings = {**DEFAULTS, **request.get("settings", {})}
    deadline = started + float(settings["deadline_s"])
    device, dtype = request["device"], DTYPES[request["dtype"]]
    cuda = device.startswith("cuda")
    threads = int(request.get("threads") or torch.get_num_threads())
    torch.set_num_threads(threads)
    _set_precision(bool(request.get("allow_tf32")))
    prims = _CudaPrimitives() if cuda else None
    result["threads"] = threads
    result["environment"] = _environment(device)

    with _stage("reference Model"):
        init_inputs = torch.load(job / request["model"]["init_inputs"], weights_only=True)
        state = torch.load(job / request["model"]["state_dict"], weights_only=True)
        reference = _reference_model(request["task"], init_inputs, state, request["model"]["seed"], device, dtype)
    with _stage("input template"):
        template = [_to_device(v, device) for v in torch.load(job / request["template"], weights_only=True)]
        work = [v.clone() if isinstance(v, torch.Tensor) else v for v in template]
        domains = list(request.get("domains") or [])
        generator = torch.Generator(device=device)

    def domain_of(position: int) -> str:
        return domains[position] if position < len(domains) else "real"

    def load(seed: int) -> None:
        """The call's inputs into the working buffers: float inputs drawn from `seed`, the rest from the template."""
        drawn = seeded_draws(template, seed, generator, domain_of)
        for position, value in enumerate(template):
            if not isinstance(value, torch.Tensor):
                work[position] = value
            else:
                work[position].copy_(drawn.get(position, value))

    subjects: dict[str, Callable[..., Any]] = {"eager": reference}
    result["compile"] = {"requested": bool(request.get("compile_baseline")), "ok": None, "error": None, "seconds": None}
    if request.get("compile_baseline"):
        compiled, result["compile"] = _compile_baseline(reference, load, work, prims, sealed)
        if compiled is not None:
            subjects["compile"] = compiled

    result["state"]["before"] = state_snapshot()
    originals = patch_snapshot()
    with _stage("import"):
        module = exec_candidate((job / request["candidate"]).read_text(), "candidate.py",
                                cached_loader(request["extensions"]))
    after["_after_import"](module, request, result, subjects, init_inputs, state, load, work, settings, prims,
                           job, deadline, originals, sealed)


def _after_import(module: Any, request: dict[str, Any], result: dict[str, Any], subjects: dict[str, Any],
                  init_inputs: list[Any], state: dict[str, Any], load: Callable[[int | None], None], work: list[Any],
                  settings: dict[str, Any], prims: _CudaPrimitives | None, job: Path, deadline: float,
                  originals: dict[str, Any], sealed: Sealed) -> None:
    """Everything from ModelNew() on, called from the private namespace."""
    device, dtype = request["device"], DTYPES[request["dtype"]]
    with _stage("ModelNew()"):
        torch.manual_seed(int(request["model"]["seed"]))
        began = _perf_ns()
        candidate = module.ModelNew(*init_inputs).to(device=device, dtype=dtype).eval()
        _sync(prims)
        result["init_ms"] = (_perf_ns() - began) / 1e6  # weight preprocessing is timed apart from forward()
        result["weights"] = adopt_weights(candidate, state)
    result["state"]["after_import"] = state_snapshot()
    subjects["candidate"] = candidate
    _sync(prims)

    with torch.no_grad():
        CountingExtension.calls.clear()
        measures, method, per_sample = _methods(subjects, load, work, settings, prims, result, deadline, sealed)
        result["method"], result["calls_per_sample"] = method, per_sample
        result["own_calls_setup"] = dict(CountingExtension.calls)  # warm-up (and graph capture: replays call nothing)
        CountingExtension.calls.clear()
        _rounds(measures, settings, int(request.get("check_elements", 1 << 16)), sealed, result, deadline, prims)
        result["own_calls"] = dict(CountingExtension.calls)
    result["state"]["after"] = state_snapshot()
    result["patched"] = patched_since(originals)


# ---------------------------------------------------------------------------------------------- subjects


def _reference_model(task: dict[str, Any], init_inputs: list[Any], state: dict[str, Any], seed: int, device: str,
                     dtype: torch.dtype) -> torch.nn.Module:
    """The task's own Model at the timing sizes, with the weights the candidate also gets."""
    from ..tasks.execution import quiet
    from ..tasks.instantiate import task_namespace

    namespace = task_namespace(task["source"], task["path"], task.get("overrides", {}))
    with quiet():
        torch.manual_seed(int(seed))
        model = namespace["Model"](*init_inputs).to(device=device, dtype=dtype).eval()
    model.load_state_dict(state)
    return model


def _compile_baseline(reference: torch.nn.Module, load: Callable[[int], None], work: list[Any],
                      prims: _CudaPrimitives | None, sealed: Sealed) -> tuple[Any, dict[str, Any]]:
    """torch.compile of a copy of the reference, compiled by its first call (before any candidate code runs)."""
    info: dict[str, Any] = {"requested": True, "ok": False, "error": None, "seconds": None}
    began = _perf_ns()
    try:
        compiled = torch.compile(copy.deepcopy(reference))
        load(sealed.entropy())
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled(*work)
        _sync(prims)
    except Exception as exc:  # e.g. no C++ compiler, an op inductor can't lower: time without it
        lines = [line for line in f"{type(exc).__name__}: {exc}".strip().splitlines() if line.strip()]
        info["error"] = (lines[0] if lines else type(exc).__name__)[:500]
        return None, info
    info.update(ok=True, seconds=(_perf_ns() - began) / 1e9)
    return compiled, info


# ---------------------------------------------------------------------------------------------- methods


def _methods(subjects: dict[str, Any], load: Callable[[int], None], work: list[Any],
             settings: dict[str, Any], prims: _CudaPrimitives | None, result: dict[str, Any],
             deadline: float, sealed: Sealed) -> tuple[dict[str, Measure], str, int]:
    """Warm every subject up and pick the timing method (the same for all subjects)."""
    if prims is None:
        measures = {name: _cpu_measure(fn, load, work) for name, fn in subjects.items()}
        _warmup(measures, settings, result, deadline, sealed)
        result["notes"].append("CPU: caches are not flushed between calls (the same for every subject)")
        return measures, "perf_counter", 1
    result["l2"] = {"flush_bytes": int(prims.flush.numel() * prims.flush.element_size()),
                    "persisting_reset": prims.reset_note}
    result["sync_overhead_ms"] = prims.sync_overhead_ms
    if prims.reset_fn is None:
        result["notes"].append(f"persisting L2 lines are not reset before calls: {prims.reset_note}")
    measures = {name: _event_measure(fn, load, work, prims) for name, fn in subjects.items()}
    warm = _warmup(measures, settings, result, deadline, sealed)
    short = min(warm.get("eager", math.inf), warm.get("candidate", math.inf))
    if not short < float(settings["graph_below_ms"]):
        return measures, "cuda_events", 1
    calls = int(min(settings["graph_max_calls"], max(8, math.ceil(settings["graph_target_ms"] / max(short, 1e-4)))))
    graphs: dict[str, Measure] = {}
    for name, fn in subjects.items():
        try:
            graphs[name] = _graph_measure(name, fn, load, work, prims, calls, sealed)
        except Exception as exc:
            first = (f"{type(exc).__name__}: {exc}".strip().splitlines() or [""])[0][:300]
            result["notes"].append(f"CUDA-graph timing not possible for {name} ({first}); "
                                   "every subject timed with events behind a busy queue instead")
            _recover(prims)
            return measures, "cuda_events", 1
    result["notes"].append(f"calls shorter than {settings['graph_below_ms']} ms: each sample is one CUDA-graph "
                           f"replay of {calls} calls on one input (L2 flushed before the replay, not between "
                           "its calls)")
    return graphs, "cuda_graph", calls


def _warmup(measures: dict[str, Measure], settings: dict[str, Any],
            result: dict[str, Any], deadline: float, sealed: Sealed) -> dict[str, float]:
    """Per subject: >= warmup_calls calls and >= warmup_ms of calls (at most warmup_max_s). Returns medians."""
    medians = {}
    for name, measure in measures.items():
        times: list[float] = []
        began = _perf_ns()
        with _stage(f"warm-up ({name})"):
            while True:
                _, synced, _ = measure(sealed.entropy())
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
                   prims: _CudaPrimitives) -> Measure:
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
                   prims: _CudaPrimitives, calls: int, sealed: Sealed) -> Measure:
    """Capture `calls` calls in one CUDA graph; a sample is one replay, divided by `calls`. The capture is
    checked: a replay on new input content must give what a plain call gives (work launched outside the
    capture, e.g. on another stream, would not be replayed)."""
    load(sealed.entropy())
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
    load(sealed.entropy())  # content the capture never saw
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


# ---------------------------------------------------------------------------------------------- rounds


def _rounds(measures: dict[str, Measure], settings: dict[str, Any], check_elements: int, sealed: Sealed,
            result: dict[str, Any], deadline: float, prims: _CudaPrimitives | None) -> None:
    names = [n for n in SUBJECT_ORDER if n in measures]
    samples = {n: result["subjects"].setdefault(n, {}) for n in names}
    for entry in samples.values():
        entry.update(samples_ms=[], plain_ms=[], rounds=[])
    counters = dict.fromkeys(names, 0)
    block = int(settings["block_calls"])
    loop_began = _perf_ns()
    stop, round_index = None, 0
    while stop is None:
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            measure = measures[name]
            entry = samples[name]
            events_ms = 0.0
            with _stage(f"timed calls ({name})"):
                wall_began = _perf_ns()
                for _ in range(block):
                    call, seed = counters[name], sealed.entropy()
                    outputs, synced, plain = measure(seed)
                    _check_types(name, call, outputs, result)
                    if name == "candidate":
                        _hand_back(call, seed, outputs, check_elements, sealed, result)
                    entry["samples_ms"].append(synced)
                    entry["plain_ms"].append(plain)
                    entry["rounds"].append(round_index)
                    events_ms += synced
                    counters[name] = call + 1
                wall_ms = (_perf_ns() - wall_began) / 1e6
            result["blocks"].append({"subject": name, "round": round_index, "wall_ms": wall_ms,
                                     "events_ms": events_ms * result.get("calls_per_sample", 1)})
        round_index += 1
        stop = _stop_reason(samples, settings, loop_began, deadline)
    result["stop_reason"] = stop
    result["rounds"] = round_index
    if prims is None:
        for entry in samples.values():
            entry.pop("plain_ms", None)


def _stop_reason(samples: dict[str, dict[str, Any]], settings: dict[str, Any], loop_began: int,
                 deadline: float) -> str | None:
    counts = [len(e["samples_ms"]) for e in samples.values()]
    if min(counts) >= settings["min_samples"]:
        watched = [samples[n]["samples_ms"] for n in ("eager", "candidate") if n in samples]
        errors = [_rse(s) for s in watched]
        if all(e <= settings["target_rse"] for e in errors):
            return f"median relative standard error below {settings['target_rse']:g}"
    if max(counts) >= settings["max_samples"]:
        return f"sample cap ({settings['max_samples']} per subject)"
    if (_perf_ns() - loop_began) / 1e9 >= settings["max_seconds"]:
        return f"time cap ({settings['max_seconds']:g} s of timed rounds)"
    if _monotonic() > deadline:
        return "phase deadline"
    return None


def _check_types(name: str, call: int, outputs: Outputs, result: dict[str, Any]) -> None:
    for index, value in enumerate(outputs):
        if type(value) is not torch.Tensor and len(result["bad_outputs"]) < 20:
            result["bad_outputs"].append(f"{name} call {call}: output {index} is a {type(value).__name__}, "
                                         "not a plain torch.Tensor")


def _hand_back(call: int, seed: int, outputs: Outputs, check_elements: int, sealed: Sealed,
               result: dict[str, Any]) -> None:
    """Asks the parent whether this finished call is checked; if so, copies its outputs out at once (whole, or the
    elements the answer's seed picks) through the sealed record file, with what the seal saw tampered with so far."""
    with _stage("call channel"):
        checked, sample_seed = sealed.ask(call, seed)
    if checked:
        name = f"check_{call}.kw"
        sealed.write(name, ["\n".join(sealed.tampering()).encode(), *sealed.sample(outputs, sample_seed, check_elements)])
        result["checks"].append(call)


# ---------------------------------------------------------------------------------------------- integrity


def state_snapshot() -> dict[str, Any]:
    """Process-wide settings that change what the baseline computes or how fast."""
    state: dict[str, Any] = {}
    probes: dict[str, Callable[[], Any]] = {
        "cuda.matmul.allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
        "cuda.matmul.allow_fp16_reduced_precision_reduction":
            lambda: torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
        "cuda.matmul.allow_bf16_reduced_precision_reduction":
            lambda: torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
        "cudnn.allow_tf32": lambda: torch.backends.cudnn.allow_tf32,
        "cudnn.benchmark": lambda: torch.backends.cudnn.benchmark,
        "cudnn.deterministic": lambda: torch.backends.cudnn.deterministic,
        "cudnn.enabled": lambda: torch.backends.cudnn.enabled,
        "mkldnn.enabled": lambda: torch.backends.mkldnn.enabled,
        "sdp.flash": lambda: torch.backends.cuda.flash_sdp_enabled(),
        "sdp.mem_efficient": lambda: torch.backends.cuda.mem_efficient_sdp_enabled(),
        "sdp.math": lambda: torch.backends.cuda.math_sdp_enabled(),
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "num_threads": torch.get_num_threads,
        "num_interop_threads": torch.get_num_interop_threads,
        "default_dtype": lambda: str(torch.get_default_dtype()),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled,
        "grad_enabled": torch.is_grad_enabled,
        # a candidate that makes another stream current would move the baseline onto it too
        "cuda.current_stream": lambda: (torch.cuda.current_stream().cuda_stream
                                        if torch.cuda.is_available() and torch.cuda.is_initialized() else None),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, probe in probes.items():
            try:
                value = probe()
                state[key] = value if isinstance(value, (bool, int, float, str)) else repr(value)
            except Exception as exc:
                state[key] = f"unreadable: {type(exc).__name__}"
    return state


def _patch_targets() -> dict[str, Any]:
    targets: dict[str, Any] = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.nn.functional": torch.nn.functional,
                               "torch.nn.Module": torch.nn.Module, "time": time, "json": json}
    if torch.cuda.is_available():
        targets["torch.cuda.Event"] = torch.cuda.Event
    return targets


_CUDA_NAMES = ("synchronize", "Event", "Stream", "current_stream", "graph", "CUDAGraph", "get_device_properties")


def patch_snapshot() -> dict[str, Any]:
    """The objects bound to torch's (and time's) callables now: compared by identity after the candidate ran."""
    snapshot: dict[str, Any] = {}
    for label, target in _patch_targets().items():
        for key, value in list(vars(target).items()):
            if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                snapshot[f"{label}.{key}"] = value
    for key in _CUDA_NAMES:
        if key in vars(torch.cuda):
            snapshot[f"torch.cuda.{key}"] = vars(torch.cuda)[key]
    return snapshot


def patched_since(snapshot: dict[str, Any]) -> list[str]:
    now = patch_snapshot()
    return sorted(name for name, value in snapshot.items() if now.get(name) is not value)[:50]


def _set_precision(allow_tf32: bool) -> None:
    """fp32 means fp32 math for the baseline too, unless the task allows TF32 (see the precision policy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
        torch.backends.cudnn.allow_tf32 = allow_tf32
        torch.set_float32_matmul_precision("high" if allow_tf32 else "highest")


# ---------------------------------------------------------------------------------------------- CUDA


class _CudaPrimitives:
    """CUDA timing primitives bound before the candidate is imported (patching torch.cuda later is moot)."""

    def __init__(self) -> None:
        base = torch._C._CudaEventBase
        self._event_cls = torch.cuda.Event
        self._record, self._elapsed, self._event_sync = base.record, base.elapsed_time, base.synchronize
        self.device_sync = torch._C._cuda_synchronize  # cudaDeviceSynchronize: every stream of the device
        torch.cuda.init()
        self.stream = torch.cuda.current_stream()
        self.reset_fn, self.reset_note = _persisting_l2_reset()
        self.flush = self.flush_buffer()
        self.sync_overhead_ms = self._sync_overhead()  # measured before any candidate code is imported

    def event(self) -> Any:
        return self._event_cls(enable_timing=True)

    def record(self, event: Any) -> None:
        self._record(event, self.stream)

    def event_sync(self, event: Any) -> None:
        self._event_sync(event)

    def elapsed(self, start: Any, end: Any) -> float:
        return float(self._elapsed(start, end))

    def flush_l2(self) -> None:
        """Resets persisting L2 lines, then evicts L2 by zeroing a buffer of twice its size (queued, not waited)."""
        if self.reset_fn is not None:
            self.reset_fn()
        _zero_(self.flush)

    def flush_buffer(self) -> torch.Tensor:
        l2 = int(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0) or 0) or 64 * 2**20
        return torch.empty(2 * l2 // 4, dtype=torch.int32, device="cuda")

    def _sync_overhead(self, calls: int = 25) -> float:
        """Median time from an end event to one recorded after a device-wide sync, with nothing between them but
        the sync: what the sync itself adds to every synced sample (the orchestrator takes it off again, never
        below the plain end event's time). Queued behind a flush, like every timed call."""
        plain, synced = self.event(), self.event()
        gaps = []
        for _ in range(calls):
            self.flush_l2()
            self.record(plain)
            self.device_sync()
            self.record(synced)
            self.event_sync(synced)
            gaps.append(self.elapsed(plain, synced))
        return median(gaps)


def _cudart() -> tuple[Any, str]:
    """The CUDA runtime library torch loaded (ctypes handle), or None and why not."""
    try:
        import ctypes

        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if line.strip() and "libcudart" in os.path.basename(line.split()[-1])})
        for path in paths:
            return ctypes.CDLL(path), os.path.basename(path)
    except OSError as exc:
        return None, f"libcudart not loadable ({exc})"
    return None, "no libcudart loaded in the process (statically linked runtime?)"


def _persisting_l2_reset() -> tuple[Callable[[], Any] | None, str]:
    """cudaCtxResetPersistingL2Cache: torch has no binding, so it is called from the libcudart torch loaded."""
    direct = getattr(torch._C, "_cuda_resetPersistingL2Cache", None)
    if callable(direct):
        return direct, "torch._C._cuda_resetPersistingL2Cache"
    library, where = _cudart()
    if library is None:
        return None, where
    try:
        import ctypes

        function = library.cudaCtxResetPersistingL2Cache
        function.restype = ctypes.c_int
        code = function()
    except (OSError, AttributeError) as exc:
        return None, f"cudaCtxResetPersistingL2Cache unavailable ({type(exc).__name__}: {exc})"
    if code != 0:
        return None, f"cudaCtxResetPersistingL2Cache returned error {code}"
    return function, f"cudaCtxResetPersistingL2Cache from {where}"


def _recover(prims: _CudaPrimitives) -> None:
    """After a failed graph capture: wait for the device and clear the runtime's last (non-sticky) error, so
    the next kernel launch check does not report the capture's failure as its own."""
    try:
        prims.device_sync()
    except Exception:
        pass
    library, _ = _cudart()
    if library is not None:
        try:
            library.cudaGetLastError()
        except (OSError, AttributeError):
            pass


# ---------------------------------------------------------------------------------------------- helpers


class _stage:
    """Labels failures with the step they happened in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and not isinstance(exc, StageError) and isinstance(exc, Exception):
            raise StageError(self.name, exc) from exc
        return False


def _environment(device: str) -> dict[str, Any]:
    env: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0],
                           "threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        env.update(cuda=torch.version.cuda, device_name=torch.cuda.get_device_name(0),
                   cudnn=torch.backends.cudnn.version())
    return env


def _sync(prims: _CudaPrimitives | None) -> None:
    if prims is not None:
        prims.device_sync()


def _to_device(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _as_list(out: Any) -> Outputs:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _rse(samples: list[float]) -> float:
    rse = relative_standard_error(samples)
    return math.inf if rse is None else rse


def _error(exc: BaseException) -> dict[str, Any]:
    return error_record(exc.cause if isinstance(exc, StageError) else exc)


def main() -> None:
    exit_now = os._exit  # bound before the candidate loads: no atexit hook of the candidate's runs after the report
    run(Path(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    exit_now(0)


if __name__ == "__main__":
    main()
