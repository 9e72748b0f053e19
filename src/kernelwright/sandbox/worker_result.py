"""How a worker that runs candidate code reports an exception: as data its judge reads."""

from __future__ import annotations

import math
import sys
import traceback
from typing import Any

from .candidate_loading import CandidateError


# How torch's CPU allocator words a refused allocation (it raises a plain RuntimeError; CUDA's is OutOfMemoryError).
CPU_ALLOCATOR_REFUSED = "DefaultCPUAllocator: can't allocate memory"


def error_record(exc: BaseException) -> dict[str, Any]:
    """An exception as the orchestrator reads it: one line, its kind, whose fault, whether it is a refused
    allocation, and the trace's tail."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-4)
    return {"error": f"{type(exc).__name__}: {exc}".strip()[:2000], "kind": type(exc).__name__,
            "candidate_error": isinstance(exc, CandidateError), "out_of_memory": out_of_memory(exc),
            "trace": "".join(lines)[-3000:]}


def out_of_memory(exc: BaseException) -> bool:
    """A refused allocation: MemoryError (Python, or a C++ std::bad_alloc through pybind11), torch's
    OutOfMemoryError, or the CPU allocator's RuntimeError."""
    oom = getattr(torch_module(), "OutOfMemoryError", None)
    return (isinstance(exc, MemoryError) or (oom is not None and isinstance(exc, oom))
            or CPU_ALLOCATOR_REFUSED in str(exc))


def torch_module() -> Any:
    return sys.modules.get("torch")


def finite(value: Any) -> Any:
    """JSON has no NaN/Inf: they become null (the orchestrator treats a missing sample as a broken result)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value

