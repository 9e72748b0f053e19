"""How a worker reports an exception: a refused allocation is marked as such, whichever layer refused it."""

from __future__ import annotations

import pytest
import torch

from kernelwright.sandbox.worker_result import error_record


def _raised(action) -> BaseException:
    with pytest.raises(BaseException) as info:
        action()
    return info.value


def test_refused_allocations_are_out_of_memory() -> None:
    refused_by_torch = _raised(lambda: torch.empty(1 << 61, dtype=torch.uint8))  # the CPU allocator's RuntimeError
    assert isinstance(refused_by_torch, RuntimeError)
    record = error_record(refused_by_torch)
    assert record["out_of_memory"] and record["kind"] == "RuntimeError"
    assert error_record(MemoryError())["out_of_memory"]  # Python's, and a C++ std::bad_alloc through pybind11
    assert error_record(torch.OutOfMemoryError("CUDA out of memory"))["out_of_memory"]


def test_other_failures_are_not() -> None:
    record = error_record(_raised(lambda: torch.ones(3) @ torch.ones(4)))
    assert not record["out_of_memory"] and record["kind"] == "RuntimeError"
    assert not error_record(ValueError("can't allocate a name"))["out_of_memory"]
