"""What the trusted side asks of a worker that runs candidate code: typed requests, written as the request.json the
worker reads (and deletes) before it loads the candidate. Both the verifier and the profiler build them, so they live
below both."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ProfileWorkerRequest(BaseModel):
    """The profile worker's request (kernelwright.profile.profile_worker): "ncu" and "torch" profile a few calls,
    "run" only warms up, for a tool wrapped around the process (compute-sanitizer)."""

    model_config = ConfigDict(extra="allow")  # the modes' call counts: warmup_calls, profiled_calls, timed_calls, ...

    mode: Literal["ncu", "torch", "run"]
    candidate: str = "candidate.py"
    device: str
    dtype: str
    threads: int
    allow_tf32: bool
    extensions: list[dict[str, str]]
    task: dict[str, Any]
    overrides: dict[str, int]
    seed: int  # the weights' init seed, derived from the verification's seed as the verifier derives it
    own_kernels: list[str]


def profile_worker_request(mode: str, task: Any, device: str, extensions: list[dict[str, str]],
                           overrides: dict[str, int], seed: int | None, own_kernels: list[str], threads: int,
                           **calls: Any) -> dict[str, Any]:
    """The request.json of the profile worker. `calls`: warmup_calls, and for the profiling modes profiled_calls,
    timed_calls, calibration_ranges and nvtx_range."""
    return ProfileWorkerRequest(
        mode=mode, device=device, dtype=task.declarations.dtype, threads=threads,  # type: ignore[arg-type]
        allow_tf32=bool(task.declarations.allow_tf32), extensions=extensions, task=task.model_dump(mode="json"),
        overrides=overrides, seed=(seed if seed is not None else 0) % 100_000 + 1, own_kernels=own_kernels,
        **calls).model_dump()
