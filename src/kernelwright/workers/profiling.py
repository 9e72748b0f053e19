"""Profile worker: runs the verified candidate's forward() for a profiler, at one shape, and reports what it saw.

Runs isolated (see kernelwright.sandbox.isolation), after the verifier built every extension. It builds the
task's Model at the requested sizes (trusted code, before the candidate is imported) for its weights and
inputs, gives ModelNew those weights as the verifier does, warms up, times a few plain calls, then:
- mode "ncu": runs `profiled_calls` calls inside an NVTX push/pop range, for the ncu wrapped around this process;
- mode "torch": runs them under torch.profiler, each in a named range, and reports kernels (CUDA) or ops (CPU);
- mode "run": only the warm-up calls, for a tool wrapped around this process (compute-sanitizer).
What it reports is advisory evidence for the Judge, never a verdict.

Usage: python -m kernelwright.workers.profiling JOB_DIR  (request: sandbox.protocol.ProfileRequest)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..sandbox.candidate_loading import CountingExtension, adopt_weights, cached_loader, exec_candidate
from ..sandbox.protocol import ProfileRequest
from ..sandbox.worker_result import error_record
from ..profile.torch_rows import CALIBRATION, RANGE, cpu_rows, cuda_rows

_perf_ns = time.perf_counter_ns  # bound before any candidate code runs


def run(job: Path, request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": True, "mode": request["mode"], "notes": []}
    stage = "setup"
    try:
        device = request["device"]
        stage = "reference Model"
        model_inputs = _reference(request, device)
        stage = "import"
        module = exec_candidate((job / request["candidate"]).read_text(), "candidate.py",
                                cached_loader(request["extensions"]))
        stage = "ModelNew()"
        candidate, inputs, result["weights"] = _candidate(module, model_inputs, request, device)
        call = lambda: candidate(*inputs)  # noqa: E731
        with torch.no_grad():
            stage = "warm-up" if request["mode"] != "run" else "forward"
            for _ in range(int(request["warmup_calls"])):
                call()
            _sync(device)
            if request["mode"] == "run":
                return result
            stage = "timed calls"
            result["forward_ms"] = _time_calls(call, device, int(request["timed_calls"]))
            stage = "profiled calls"
            CountingExtension.calls.clear()
            if request["mode"] == "ncu":
                _nvtx_calls(call, device, int(request["profiled_calls"]), request["nvtx_range"], result)
            else:
                profiled = _torch_profile(call, device, request)
                result["notes"] += profiled.pop("notes")
                result.update(profiled)
            result["own_calls"] = dict(CountingExtension.calls)
    except Exception as exc:
        result.update(ok=False, stage=stage, **error_record(exc))
    return result


def _reference(request: dict[str, Any], device: str) -> tuple[list[Any], dict[str, Any], list[Any]]:
    """(init inputs, the reference's weights, inputs) at the requested sizes and seed, as the verifier's
    reference worker makes them."""
    from ..tasks import Task, instantiate

    task = Task.model_validate(request["task"])
    built = instantiate(task, request["overrides"], device=device, seed=int(request["seed"]), dtype=request["dtype"])
    state = dict(built.model.state_dict())
    return built.init_inputs, state, built.inputs


def _candidate(module: Any, model_inputs: tuple[list[Any], dict[str, Any], list[Any]], request: dict[str, Any],
               device: str) -> tuple[torch.nn.Module, list[Any], str]:
    from ..tasks.instantiate import TORCH_DTYPES

    init_inputs, state, inputs = model_inputs
    torch.manual_seed(int(request["seed"]))
    candidate = module.ModelNew(*init_inputs).to(device=device, dtype=TORCH_DTYPES[request["dtype"]]).eval()
    return candidate, inputs, adopt_weights(candidate, state)


def _time_calls(call: Callable[[], Any], device: str, count: int) -> float:
    """Median ms of one plain call (no profiler): CUDA events on CUDA, perf_counter on the CPU."""
    samples = []
    for _ in range(count):
        if device.startswith("cuda"):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            samples.append(float(start.elapsed_time(end)))
        else:
            began = _perf_ns()
            call()
            samples.append((_perf_ns() - began) / 1e6)
    return statistics.median(samples)


def _nvtx_calls(call: Callable[[], Any], device: str, count: int, name: str, result: dict[str, Any]) -> None:
    nvtx = device.startswith("cuda")
    if not nvtx:
        result["notes"].append("no NVTX range on the CPU: ncu has nothing to profile here")
    for _ in range(count):
        if nvtx:
            torch.cuda.nvtx.range_push(name)
        try:
            call()
            _sync(device)
        finally:
            if nvtx:
                torch.cuda.nvtx.range_pop()
    result["profiled_calls"] = count


def _torch_profile(call: Callable[[], Any], device: str, request: dict[str, Any]) -> dict[str, Any]:
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    CountingExtension.profiling = True
    try:
        with profile(activities=activities) as prof:
            call()  # the profiler's first-call set-up lands here, outside the measured ranges
            _sync(device)
            for _ in range(int(request["calibration_ranges"])):
                with record_function(CALIBRATION):
                    pass
            for _ in range(int(request["profiled_calls"])):
                with record_function(RANGE):
                    call()
                _sync(device)
    finally:
        CountingExtension.profiling = False
    events = list(prof.events())
    if cuda:
        rows, notes = cuda_rows(events, request["own_kernels"]), []
    else:
        rows, notes = cpu_rows(events)
    return {"rows": [row.model_dump() for row in rows], "profiled_calls": int(request["profiled_calls"]),
            "notes": notes}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(ProfileRequest, run)
