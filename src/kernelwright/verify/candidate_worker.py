"""Correctness worker: runs the candidate on harness inputs and saves what it returns.

Runs isolated (see kernelwright.sandbox.isolation). It holds no expected outputs and decides nothing:
the trusted orchestrator compares the saved outputs with the float64 reference. Every contiguous tensor input
sits between two guard bands of all-ones bytes (NaN in every float format): a read past either end of an input
brings NaN into the result instead of whatever memory happened to be there, and a write past it changes the
bands, which the worker reports.
Usage: python -m kernelwright.verify.candidate_worker JOB_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .attribution import attribute
from ..sandbox.candidate_loading import CountingExtension, adopt_weights, cached_loader, exec_candidate
from ..sandbox.worker_result import error_record
from ..tasks.instantiate import TORCH_DTYPES as DTYPES

GUARD_BYTES = 4096  # each side of every input; a multiple of every element size and of the allocators' alignment


def run(job: Path) -> dict[str, Any]:
    request = json.loads((job / "request.json").read_text())
    (job / "request.json").unlink()  # what the harness plans is no business of the candidate's
    device, dtype = request["device"], DTYPES[request["dtype"]]
    torch.set_num_threads(int(request.get("threads", 2)))
    source = (job / request["candidate"]).read_text()
    result: dict[str, Any] = {"ok": True, "calls": [], "models": []}
    try:
        module = exec_candidate(source, "candidate.py", cached_loader(request["extensions"]))
    except Exception as exc:
        return {**result, "ok": False, "stage": "import", **error_record(exc)}
    models: dict[str, torch.nn.Module] = {}
    for spec in request["models"]:
        try:
            models[spec["id"]], weights = _build_model(module, spec, job, device, dtype)
        except Exception as exc:
            return {**result, "ok": False, "stage": f"ModelNew() for weights {spec['id']}", **error_record(exc)}
        result["models"].append({"id": spec["id"], "weights": weights})
    kept: dict[str, tuple[list[Any], list[torch.Tensor | None]]] = {}
    for call in request["calls"]:
        try:
            result["calls"].append(_call(call, models[call["model"]], job, device, kept, request.get("output_bytes", [])))
        except Exception as exc:
            return {**result, "ok": False, "stage": f"forward (call {call['id']})", **error_record(exc)}
    # The largest inputs: the candidate's work stands furthest above fixed per-call costs there.
    largest = max(request["calls"], key=lambda call: (job / call["inputs"]).stat().st_size, default=None)
    if largest is not None:
        inputs = [_guarded(_to_device(x, device))[0] for x in torch.load(job / largest["inputs"], weights_only=True)]
        model = models[largest["model"]]
        CountingExtension.profiling = True
        try:
            with torch.no_grad():
                result["attribution"] = attribute(lambda: model(*inputs), device, request.get("own_kernels", []))
        except Exception as exc:  # the profiler is evidence, not a verdict: its failure is reported, not fatal
            result["attribution"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        finally:
            CountingExtension.profiling = False
    return result


def _build_model(module: Any, spec: dict, job: Path, device: str, dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    init_inputs = torch.load(job / spec["init_inputs"], weights_only=True)
    torch.manual_seed(spec["seed"])
    model = module.ModelNew(*init_inputs).to(device=device, dtype=dtype).eval()
    return model, adopt_weights(model, torch.load(job / spec["state_dict"], weights_only=True))


def _call(call: dict, model: torch.nn.Module, job: Path, device: str, kept: dict, output_bytes: list[int]) -> dict:
    fresh = [_to_device(x, device) for x in torch.load(job / call["inputs"], weights_only=True)]
    spacer = torch.empty(int(call.get("spacer", 0)), dtype=torch.uint8, device=device)
    if call.get("reuse"):
        inputs, bands = kept[call["reuse"]]
        for target, value in zip(inputs, fresh):
            if isinstance(target, torch.Tensor):
                target.copy_(value)
    else:
        inputs, bands = (list(pair) for pair in zip(*(_guarded(x) for x in fresh))) if fresh else ([], [])
    before = [_digest(x) for x in inputs]
    _poison(device, output_bytes)
    _sync(device)
    CountingExtension.calls.clear()
    started = time.perf_counter()
    with torch.no_grad():
        out = model(*inputs)
    _sync(device)
    elapsed = time.perf_counter() - started
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    types = [type(o).__name__ if type(o) is not torch.Tensor else "Tensor" for o in outputs]
    saved = [o.detach().to("cpu", copy=True) if type(o) is torch.Tensor else None for o in outputs]
    aliases = [_aliases(o, inputs) for o in outputs]
    changed = [i for i, (x, digest) in enumerate(zip(inputs, before)) if _digest(x) != digest]
    overrun = [i for i, band in enumerate(bands) if band is not None and not _bands_intact(band)]
    torch.save(saved, job / f"out_{call['id']}.pt")
    if call.get("keep"):
        kept[call["id"]] = (inputs, bands)
    del spacer
    return {"id": call["id"], "types": types, "aliases": aliases, "inputs_changed": changed,
            "guards_written": overrun, "seconds": elapsed, "own_calls": dict(CountingExtension.calls)}


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


def _bands_intact(band: torch.Tensor) -> bool:
    return bool((band[:GUARD_BYTES] == 255).all()) and bool((band[-GUARD_BYTES:] == 255).all())


def _to_device(value: Any, device: str) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _digest(value: Any) -> str | None:
    if not isinstance(value, torch.Tensor):
        return None
    data = value.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes()
    return hashlib.sha256(data).hexdigest()


def _aliases(output: Any, inputs: list[Any]) -> bool:
    if type(output) is not torch.Tensor:
        return False
    start = output.untyped_storage().data_ptr()
    end = start + output.untyped_storage().nbytes()
    for value in inputs:
        if isinstance(value, torch.Tensor) and value.device == output.device:
            other = value.untyped_storage().data_ptr()
            if start < other + value.untyped_storage().nbytes() and other < end:
                return True
    return False


def _poison(device: str, sizes: list[int]) -> None:
    """Leaves all-ones bytes (NaN in every float format) in the blocks an output of each expected byte size
    would be handed by the allocator, so an output the candidate never writes fails."""
    blocks = [torch.full((max(1, n),), 255, dtype=torch.uint8, device=device) for n in sizes]
    del blocks


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    job = Path(sys.argv[1])
    result = run(job)
    (job / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
