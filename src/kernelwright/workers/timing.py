"""Timing worker: times the candidate alone, in turns with the baseline worker, as the trusted parent says.

Runs isolated (see kernelwright.sandbox.isolation), after every build is done, beside the baseline worker
(`kernelwright.verify.baseline_worker`, the task's Model and torch.compile of it), which never loads candidate code.
Up to the load this process is the correctness worker's twin (`kernelwright.workers.preload`): same imports,
settings and environment, so nothing tells the phases apart. It holds no expected outputs and decides nothing: it
writes raw per-call samples, the outputs of the timed candidate calls the orchestrator picked, and what it observed
(global flags, patched torch functions, output types). The trusted orchestrator (`kernelwright.verify.timing`)
does the statistics, the re-check and the verdict.

Protocol: the parent's turns over the turn channel (`kernelwright.sandbox.turns`): warm up, the timing method, one
block of `block_calls` timed calls per turn (`measures._rounds`), stop. Every call gets fresh input content from an
OS seed just before it; nothing here says which calls will be checked: after each timed call the worker asks the
trusted parent over the call channel (`Sealed.ask`, see kernelwright.verify.call_checks), and only then hands back
that call's outputs (whole, or a sample of elements the answer's seed picks) if it was chosen.

Usage: python -m kernelwright.workers.timing JOB_DIR  (request: sandbox.protocol.TimingRequest)
"""

from __future__ import annotations

from .preload import preload_state, reset_extension_wrapper  # first: see there

import time
import types
from pathlib import Path
from typing import Any

import torch

from ..sandbox.candidate_loading import CountingExtension, adopt_weights, cached_loader, exec_candidate
from ..sandbox.sealed import Sealed, private_functions, seal
from ..sandbox.protocol import TimingRequest
from ..sandbox.torch_state import patch_snapshot, patched_since, process_environment, state_snapshot
from ..sandbox.turns import bind_turns
from ..sandbox.worker_result import error_record
from ..tasks.instantiate import TORCH_DTYPES as DTYPES
from ..verify import measures
from ..verify.cuda_timing import CudaPrimitives
from ..verify.distributions import seeded_draws
from ..verify.measures import Outputs, StageError, _rounds, stage

# Captured before any candidate code runs: replacing them later (time.perf_counter_ns = ...) changes nothing here.
_perf_ns = time.perf_counter_ns
_monotonic = time.monotonic

DEFAULTS: dict[str, Any] = {
    "warmup_ms": 25.0, "warmup_calls": 10, "warmup_max_s": 5.0, "block_calls": 5, "deadline_s": 280.0,
}


# ---------------------------------------------------------------------------------------------- entry


def run(job: Path, request: dict[str, Any]) -> None:
    started = _monotonic()
    result: dict[str, Any] = {"ok": True, "notes": [], "subjects": {}, "blocks": [], "checks": [],
                              "bad_outputs": [], "patched": [], "state": {}, "own_calls": {}}
    reset_extension_wrapper()  # as the correctness worker does
    # Bound before the candidate loads (see kernelwright.sandbox.sealed): the call channel, the turn channel, the
    # checked outputs, the report and every function that runs after the import (this module's and the shared
    # measures) reach nothing the candidate can rebind by name.
    channel = request.get("channel")
    sealed = seal(str(job), watched=globals(), channel=(int(channel[0]), int(channel[1])) if channel else None)
    turns = bind_turns((int(request["turns"][0]), int(request["turns"][1])))
    prims = CudaPrimitives() if request["device"].startswith("cuda") else None  # bound now, started after the load
    namespace = {**vars(measures), **globals()}
    after = private_functions(namespace, [name for name, value in namespace.items()
                                          if isinstance(value, types.FunctionType)
                                          and value.__module__ in (__name__, measures.__name__)])
    try:
        after["_run"](job, request, result, started, sealed, turns, prims, after)
    except StageError as exc:
        result.update(ok=False, stage=exc.stage, **error_record(exc.cause))
    except Exception as exc:  # the harness's own failure: still a report, never a silent crash
        result.update(ok=False, stage="worker", **error_record(exc))
    result["tampering"] = sealed.tampering()
    sealed.report("result.json", result)


def _run(job: Path, request: dict[str, Any], result: dict[str, Any], started: float, sealed: Sealed,
         turns: Any, prims: CudaPrimitives | None, after: dict[str, Any]) -> None:
    result["state"]["before"] = state_snapshot()
    originals = patch_snapshot()
    result["preload"] = preload_state(str(job))
    source = (job / request["candidate"]).read_text()
    with stage("import"):
        module = exec_candidate(source, "candidate.py", cached_loader(request["extensions"]))
    after["_after_import"](module, request, result, started, sealed, turns, prims, originals, job)


def _after_import(module: Any, request: dict[str, Any], result: dict[str, Any], started: float, sealed: Sealed,
                  turns: Any, prims: CudaPrimitives | None, originals: dict[str, Any], job: Path) -> None:
    """Everything from ModelNew() on, called from the private namespace."""
    settings = {**DEFAULTS, **request.get("settings", {})}
    deadline = started + float(settings["deadline_s"])
    device, dtype = request["device"], DTYPES[request["dtype"]]
    result["threads"] = torch.get_num_threads()
    result["environment"] = process_environment(device)
    if prims is not None:
        with stage("CUDA timing setup"):
            prims.start()
    with stage("ModelNew()"):
        init_inputs = torch.load(job / request["model"]["init_inputs"], weights_only=True)
        state = torch.load(job / request["model"]["state_dict"], weights_only=True)
        torch.manual_seed(int(request["model"]["seed"]))
        began = _perf_ns()
        candidate = module.ModelNew(*init_inputs).to(device=device, dtype=dtype).eval()
        _sync(prims)
        result["init_ms"] = (_perf_ns() - began) / 1e6  # weight preprocessing is timed apart from forward()
        result["weights"] = adopt_weights(candidate, state)
    result["state"]["after_import"] = state_snapshot()
    with stage("input template"):
        template = [_to_device(v, device) for v in torch.load(job / request["template"], weights_only=True)]
        work = [v.clone() if isinstance(v, torch.Tensor) else v for v in template]
        domains = list(request.get("domains") or [])
        generator = torch.Generator(device=device)
    _sync(prims)

    def load(seed: int) -> None:
        """The call's inputs into the working buffers: float inputs drawn from `seed`, the rest from the template."""
        drawn = seeded_draws(template, seed, generator, lambda i: domains[i] if i < len(domains) else "real")
        for position, value in enumerate(template):
            if isinstance(value, torch.Tensor):
                work[position].copy_(drawn.get(position, value))

    check_elements = int(request.get("check_elements", 1 << 16))

    def on_call(name: str, call: int, seed: int, outputs: Outputs) -> None:
        _check_types(name, call, outputs, result)
        _hand_back(call, seed, outputs, check_elements, sealed, result)

    with torch.no_grad():
        CountingExtension.calls.clear()
        _rounds(turns, {"candidate": candidate}, load, work, settings, prims, result, deadline, sealed.entropy,
                on_call)
        result["own_calls"] = dict(CountingExtension.calls)
    result["own_calls_setup"] = result["own_calls"]  # graph replays call nothing: the capture's calls count
    result["state"]["after"] = state_snapshot()
    result["patched"] = patched_since(originals)


def _check_types(name: str, call: int, outputs: Outputs, result: dict[str, Any]) -> None:
    for index, value in enumerate(outputs):
        if type(value) is not torch.Tensor and len(result["bad_outputs"]) < 20:
            result["bad_outputs"].append(f"{name} call {call}: output {index} is a {type(value).__name__}, "
                                         "not a plain torch.Tensor")


def _hand_back(call: int, seed: int, outputs: Outputs, check_elements: int, sealed: Sealed,
               result: dict[str, Any]) -> None:
    """Asks the parent whether this finished call is checked; if so, copies its outputs out at once (whole, or the
    elements the answer's seed picks) through the sealed record file, with what the seal saw tampered with so far."""
    with stage("call channel"):
        checked, sample_seed = sealed.ask(call, seed)
    if checked:
        name = f"check_{call}.kw"
        sealed.write(name, ["\n".join(sealed.tampering()).encode(), *sealed.sample(outputs, sample_seed, check_elements)])
        result["checks"].append(call)


def _sync(prims: CudaPrimitives | None) -> None:
    if prims is not None:
        prims.device_sync()


def _to_device(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(TimingRequest, run)
