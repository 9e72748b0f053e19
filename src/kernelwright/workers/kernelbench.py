"""KernelBench-protocol timing worker: times one subject the way KernelBench's published evaluation does.

One subject per process: `eager` (the task's Model; it also writes the inputs and weights the candidate then
reads) or `candidate` (ModelNew, in a process that never held the baseline). Protocol: the task's own
get_inputs() under a fixed seed, the same inputs for every call; `warmup` calls, each followed by a device
synchronize; then `trials` calls, each between a start and an end CUDA event on the current stream, followed by
a device synchronize; the time is the events' elapsed time. No L2 flush, no CUDA-graph replay, no sync-cost
subtraction, no fresh inputs. CPU: perf_counter around each call. Decides nothing: raw times go to the
orchestrator (`kernelwright.verify.kernelbench`).

Usage: python -m kernelwright.workers.kernelbench JOB_DIR  (request: sandbox.protocol.KernelBenchRequest)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..sandbox.candidate_loading import adopt_weights, cached_loader, exec_candidate
from ..sandbox.protocol import KernelBenchRequest
from ..sandbox.worker_result import error_record

_perf_ns = time.perf_counter_ns  # captured before any candidate code runs


def run(job: Path, request: dict[str, Any]) -> dict[str, Any]:
    stage = "setup"
    try:
        device = request["device"]
        stage = "model"
        model, inputs = (_eager if request["subject"] == "eager" else _candidate)(job, request)
        stage = "timing"
        with torch.no_grad():
            times = _time(model, inputs, device, int(request["warmup"]), int(request["trials"]))
    except Exception as exc:
        return {"ok": False, "stage": stage, **error_record(exc)}
    return {"ok": True, "times_ms": times, "method": "cuda_event" if device.startswith("cuda") else "perf_counter"}


def _eager(job: Path, request: dict[str, Any]) -> tuple[Any, list[Any]]:
    from ..tasks import Task, instantiate

    built = instantiate(Task.model_validate(request["task"]), request["overrides"], device=request["device"],
                        seed=int(request["seed"]), dtype=request["dtype"])
    torch.save(built.init_inputs, job / "init.pt")
    torch.save(built.model.state_dict(), job / "state.pt")
    torch.save([v.cpu() if isinstance(v, torch.Tensor) else v for v in built.inputs], job / "inputs.pt")
    return built.model, built.inputs


def _candidate(job: Path, request: dict[str, Any]) -> tuple[Any, list[Any]]:
    from ..tasks.instantiate import TORCH_DTYPES

    device, dtype = request["device"], TORCH_DTYPES[request["dtype"]]
    module = exec_candidate((job / request["candidate"]).read_text(), "candidate.py",
                            cached_loader(request["extensions"]))
    torch.manual_seed(int(request["seed"]))
    model = module.ModelNew(*torch.load(job / "init.pt", weights_only=True)).to(device=device, dtype=dtype).eval()
    adopt_weights(model, torch.load(job / "state.pt", weights_only=True))
    inputs = torch.load(job / "inputs.pt", weights_only=True)
    return model, [v.to(device) if isinstance(v, torch.Tensor) else v for v in inputs]


def _time(model: Any, inputs: list[Any], device: str, warmup: int, trials: int) -> list[float]:
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(warmup):
        model(*inputs)
        sync()
    times = []
    for _ in range(trials):
        sync()
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(*inputs)
            end.record()
            sync()
            times.append(start.elapsed_time(end))
        else:
            began = _perf_ns()
            model(*inputs)
            times.append((_perf_ns() - began) / 1e6)
    return times


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(KernelBenchRequest, run)
