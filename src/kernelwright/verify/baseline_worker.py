"""Baseline worker: times the task's own Model (eager) and a torch.compile of it; never loads candidate code.

Runs isolated beside the candidate's timing worker (`kernelwright.workers.timing`), and only when the parent
gives it a turn (`kernelwright.sandbox.turns`): nothing the candidate does to its own process (OpenMP levels,
torch's thread pools, the allocator, private torch bindings, dispatcher kernels) reaches the baseline. Inputs are
drawn like the candidate's: every call from a fresh OS seed into the same working buffers
(`distributions.seeded_draws`). It writes raw samples; the parent does the statistics.

Trusted, so it lives outside kernelwright.workers; it starts and ends as they do (`sandbox.worker_main`).
Usage: python -m kernelwright.verify.baseline_worker JOB_DIR  (request: sandbox.protocol.BaselineRequest)
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ..sandbox.protocol import BaselineRequest
from ..sandbox.torch_state import process_environment, state_snapshot
from ..sandbox.turns import bind_turns
from ..sandbox.worker_result import error_record
from ..tasks.instantiate import TORCH_DTYPES as DTYPES
from .cuda_timing import CudaPrimitives
from .distributions import seeded_draws
from .measures import StageError, _rounds, stage

DEFAULTS: dict[str, Any] = {"warmup_ms": 25.0, "warmup_calls": 10, "warmup_max_s": 5.0, "block_calls": 5,
                            "deadline_s": 280.0}


def run(job: Path, request: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {"ok": True, "notes": [], "subjects": {}, "blocks": []}
    try:
        _run(job, request, result, started)
    except StageError as exc:
        result.update(ok=False, stage=exc.stage, **error_record(exc.cause))
    except Exception as exc:  # the harness's own failure: still a report
        result.update(ok=False, stage="baseline worker", **error_record(exc))
    return result


def _run(job: Path, request: dict[str, Any], result: dict[str, Any], started: float) -> None:
    settings = {**DEFAULTS, **request.get("settings", {})}
    deadline = started + float(settings["deadline_s"])
    device, dtype = request["device"], DTYPES[request["dtype"]]
    channel = bind_turns((int(request["turns"][0]), int(request["turns"][1])))
    result["threads"] = torch.get_num_threads()
    result["environment"] = process_environment(device)
    prims = CudaPrimitives().start() if device.startswith("cuda") else None
    if prims is not None:
        result["l2"] = {"flush_bytes": int(prims.flush.numel() * prims.flush.element_size()),
                        "persisting_reset": prims.reset_note}
        result["sync_overhead_ms"] = prims.sync_overhead_ms
        if prims.reset_fn is None:
            result["notes"].append(f"persisting L2 lines are not reset before calls: {prims.reset_note}")
    else:
        result["notes"].append("CPU: caches are not flushed between calls (the same for every subject)")

    with stage("reference Model"):
        init_inputs = torch.load(job / request["model"]["init_inputs"], weights_only=True)
        state = torch.load(job / request["model"]["state_dict"], weights_only=True)
        reference = _reference_model(request["task"], init_inputs, state, request["model"]["seed"], device, dtype)
    with stage("input template"):
        template = [_to_device(v, device) for v in torch.load(job / request["template"], weights_only=True)]
        work = [v.clone() if isinstance(v, torch.Tensor) else v for v in template]
        domains = list(request.get("domains") or [])
        generator = torch.Generator(device=device)

    def load(seed: int) -> None:
        drawn = seeded_draws(template, seed, generator, lambda i: domains[i] if i < len(domains) else "real")
        for position, value in enumerate(template):
            if isinstance(value, torch.Tensor):
                work[position].copy_(drawn.get(position, value))

    def entropy() -> int:
        return int.from_bytes(os.urandom(8), "little") >> 1

    subjects: dict[str, Any] = {"eager": reference}
    result["compile"] = {"requested": bool(request.get("compile_baseline")), "ok": None, "error": None,
                         "seconds": None}
    if request.get("compile_baseline"):
        compiled, result["compile"] = _compile_baseline(reference, load, work, prims, entropy)
        if compiled is not None:
            subjects["compile"] = compiled
    result["state"] = state_snapshot()
    with torch.no_grad():
        _rounds(channel, subjects, load, work, settings, prims, result, deadline, entropy, lambda *_: None)


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


def _compile_baseline(reference: torch.nn.Module, load: Any, work: list[Any], prims: CudaPrimitives | None,
                      entropy: Any) -> tuple[Any, dict[str, Any]]:
    """torch.compile of a copy of the reference, compiled by its first call."""
    info: dict[str, Any] = {"requested": True, "ok": False, "error": None, "seconds": None}
    began = time.perf_counter()
    try:
        compiled = torch.compile(copy.deepcopy(reference))
        load(entropy())
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled(*work)
        if prims is not None:
            prims.device_sync()
    except Exception as exc:  # e.g. no C++ compiler, an op inductor can't lower: time without it
        lines = [line for line in f"{type(exc).__name__}: {exc}".strip().splitlines() if line.strip()]
        info["error"] = (lines[0] if lines else type(exc).__name__)[:500]
        return None, info
    info.update(ok=True, seconds=time.perf_counter() - began)
    return compiled, info


def _to_device(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(BaselineRequest, run)
