"""Correctness worker: runs the candidate on harness inputs and saves what it returns.

Runs isolated (see kernelwright.sandbox.isolation). It holds no expected outputs and decides nothing:
the trusted orchestrator compares the saved outputs with the float64 reference. Everything after the candidate's
import runs from a private namespace and hands back through kernelwright.sandbox.sealed (outputs and the facts
about the inputs as record files, the report through a pre-bound JSON encoder). Every contiguous tensor input
sits between two guard bands of all-ones bytes (NaN in every float format): a read past either end of an input
brings NaN into the result instead of whatever memory happened to be there, and a write past it changes the
bands, which the sealed facts report.
Usage: python -m kernelwright.workers.correctness JOB_DIR  (request: sandbox.protocol.CorrectnessRequest)
"""

from __future__ import annotations

from .preload import preload_state, reset_extension_wrapper  # first: the same pre-load state as the timing worker's

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from torch.profiler import record_function

from ..verify.attribution import CALL, profiled, summarise
from ..sandbox.candidate_loading import CountingExtension, adopt_weights, cached_loader, exec_candidate
from ..sandbox.sealed import Sealed, private_functions, seal
from ..sandbox.protocol import CorrectnessRequest
from ..sandbox.worker_result import error_record
from ..tasks.instantiate import TORCH_DTYPES as DTYPES

GUARD_BYTES = 4096  # each side of every input; a multiple of every element size and of the allocators' alignment
# Everything that runs once candidate code is loaded, called from a private namespace.
AFTER_IMPORT = ("_after_import", "_build_model", "_run_calls", "_call", "_guarded", "_to_device", "_poison", "_sync",
                "_bytes")
# Outputs up to this size are hashed after their call to see whether the next call changes them (larger ones are
# only checked for storage handed out again: hashing gigabytes a call would dominate the phase).
CLOBBER_CHECK_BYTES = 256 * 2**20


def run(job: Path, request: dict[str, Any]) -> None:
    reset_extension_wrapper()  # as the timing worker does
    # Bound before the candidate loads: what runs after it reaches nothing the candidate can rebind by name.
    sealed = seal(str(job), watched=globals(), guard_bytes=GUARD_BYTES)
    after = private_functions(globals(), AFTER_IMPORT)["_after_import"]
    result: dict[str, Any] = {"ok": True, "calls": [], "models": [], "preload": preload_state(str(job))}
    source = (job / request["candidate"]).read_text()
    try:
        module = exec_candidate(source, "candidate.py", cached_loader(request["extensions"]))
    except Exception as exc:
        result = {**result, "ok": False, "stage": "import", **error_record(exc)}
    else:
        # Every call names its own functions' ranges (free without a profiler) under the secret prefix set above.
        CountingExtension.profiling = True
        result = after(module, request, job, sealed, result)
    sealed.report("result.json", result)


def _after_import(module: Any, request: dict[str, Any], job: Path, sealed: Sealed,
                  result: dict[str, Any]) -> dict[str, Any]:
    device, dtype = request["device"], DTYPES[request["dtype"]]
    models: dict[str, torch.nn.Module] = {}
    for spec in request["models"]:
        try:
            models[spec["id"]], weights = _build_model(module, spec, job, device, dtype)
        except Exception as exc:
            return {**result, "ok": False, "stage": f"ModelNew() for weights {spec['id']}", **error_record(exc)}
        result["models"].append({"id": spec["id"], "weights": weights})
    try:
        _run_calls(request, models, job, device, sealed, result)
    except _CallFailed as failed:
        return {**result, "ok": False, "stage": f"forward (call {failed.call_id})", **error_record(failed.error)}
    return result


class _CallFailed(Exception):
    def __init__(self, call_id: str, error: Exception) -> None:
        super().__init__(call_id)
        self.call_id, self.error = call_id, error


def _run_calls(request: dict[str, Any], models: dict[str, torch.nn.Module], job: Path, device: str, sealed: Sealed,
               result: dict[str, Any]) -> None:
    """Every call in order, through the same `_call`. The block of profiled calls (consecutive, placed by the
    plan) runs inside one profiler session; its events give the attribution, which is evidence, not a verdict."""
    kept: dict[str, tuple[list[Any], list[torch.Tensor | None]]] = {}
    last: dict[str, list[Any]] = {"outputs": [], "digests": []}  # the previous call's outputs, held alive
    calls, index = request["calls"], 0
    while index < len(calls):
        block = [calls[index]]
        while block[-1].get("profiled") and index + len(block) < len(calls) and calls[index + len(block)].get("profiled"):
            block.append(calls[index + len(block)])
        with profiled(device) if block[0].get("profiled") else nullcontext() as prof:
            for call in block:
                try:
                    result["calls"].append(_call(call, models[call["model"]], job, device, kept,
                                                 request.get("output_bytes", []), sealed, last))
                except Exception as exc:
                    raise _CallFailed(call["id"], exc) from None
        if prof is not None:
            try:
                result["attribution"] = summarise(list(prof.events()), device, request.get("own_kernels", []),
                                                  CountingExtension.range_prefix)
            except Exception as exc:  # the profiler is evidence, not a verdict: its failure is reported, not fatal
                result["attribution"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        index += len(block)


def _build_model(module: Any, spec: dict, job: Path, device: str, dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    init_inputs = torch.load(job / spec["init_inputs"], weights_only=True)
    torch.manual_seed(spec["seed"])
    model = module.ModelNew(*init_inputs).to(device=device, dtype=dtype).eval()
    return model, adopt_weights(model, torch.load(job / spec["state_dict"], weights_only=True))


def _call(call: dict, model: torch.nn.Module, job: Path, device: str, kept: dict, output_bytes: list[int],
          sealed: Sealed, last: dict[str, list[Any]]) -> dict:
    """One forward call. Its outputs, and the facts about its inputs (changed, guard bands written, aliased by an
    output), about the previous call's outputs (storage handed out again, changed since) and about the worker
    (tampering), leave through the sealed record file `out_ID.kw`."""
    fresh = [_to_device(x, device) for x in torch.load(job / call["inputs"], weights_only=True)]
    spacer = torch.empty(int(call.get("spacer", 0)), dtype=torch.uint8, device=device)
    if call.get("reuse"):
        inputs, bands = kept[call["reuse"]]
        for target, value in zip(inputs, fresh):
            if isinstance(target, torch.Tensor):
                target.copy_(value)
    else:
        inputs, bands = (list(pair) for pair in zip(*(_guarded(x) for x in fresh))) if fresh else ([], [])
    before = [sealed.digest(x) for x in inputs]
    _poison(device, output_bytes)
    _sync(device)
    CountingExtension.calls.clear()
    started = time.perf_counter()
    with torch.no_grad(), record_function(CALL):
        out = model(*inputs)
        _sync(device)
    elapsed = time.perf_counter() - started
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    facts = sealed.call_facts(inputs, bands, before, outputs, last["outputs"], last["digests"])
    tampering = "\n".join(sealed.tampering()).encode()
    sealed.write(f"out_{call['id']}.kw", [facts, tampering, *outputs])
    last["outputs"] = outputs
    last["digests"] = [sealed.digest(o) if _bytes(o) <= CLOBBER_CHECK_BYTES else None for o in outputs]
    if call.get("keep"):
        kept[call["id"]] = (inputs, bands)
    del spacer
    return {"id": call["id"], "seconds": elapsed, "own_calls": dict(CountingExtension.calls)}


def _guarded(value: Any) -> tuple[Any, torch.Tensor | None]:
    """A contiguous tensor input copied into the middle of a buffer whose first and last GUARD_BYTES are all-ones
    bytes; the view is the input the candidate gets, the buffer is kept to check the bands after the call."""
    if not isinstance(value, torch.Tensor) or not value.is_contiguous() or value.numel() == 0 \
            or value.dtype == torch.bool or value.is_complex():
        return value, None
    size = value.numel() * value.element_size()
    band = torch.full((size + 2 * GUARD_BYTES,), 255, dtype=torch.uint8, device=value.device)
    view = band[GUARD_BYTES:GUARD_BYTES + size].view(value.dtype).view(value.shape)
    view.copy_(value)
    return view, band


def _bytes(value: Any) -> int:
    return value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 0


def _to_device(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _poison(device: str, sizes: list[int]) -> None:
    """Leaves all-ones bytes (NaN in every float format) in the blocks an output of each expected byte size
    would be handed by the allocator, so an output the candidate never writes fails."""
    blocks = [torch.full((max(1, n),), 255, dtype=torch.uint8, device=device) for n in sizes]
    del blocks


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(CorrectnessRequest, run)
