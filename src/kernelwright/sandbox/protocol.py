"""The typed contract between the trusted side and the workers that run candidate code (kernelwright.workers).

The trusted side builds a request model and writes it as the job's request.json; `sandbox.worker_main`
validates it against the same model, deletes it before the candidate loads, applies the settings every worker
shares (threads, the precision rule) and runs the worker. After the validation a worker handles the request as
plain JSON data: nothing reached after the candidate's load may be a class the candidate could patch. A worker's
result.json is checked on the way back by `read_result`: a result that does not fit its model is a broken worker,
never a silent default. The models sit below both the verifier and the profiler, which build them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .worker_files import read_worker_file


class WorkerRequest(BaseModel):
    """What every worker gets applied before it runs anything (see `sandbox.torch_state.apply_settings`)."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = None  # None: torch's own default (build and inspect run no kernels)
    allow_tf32: bool = False  # the precision rule: float32 matmuls at "highest" unless the task allows TF32


class Extension(BaseModel):
    """One built extension as a worker's cached_loader imports it (`BuildOutcome.loader_entry`)."""

    key: str
    module: str
    library: str
    toolchain: str  # the Toolchain as JSON


class ModelFiles(BaseModel):
    """Where a worker finds the weights the trusted reference made, and the init seed ModelNew() runs under."""

    init_inputs: str
    state_dict: str
    seed: int


class CorrectnessModel(ModelFiles):
    id: str


class CorrectnessCall(BaseModel):
    id: str
    model: str
    inputs: str
    reuse: str | None = None
    keep: bool = False
    spacer: int = 0
    profiled: bool = False


class CorrectnessRequest(WorkerRequest):
    """kernelwright.workers.correctness: every planned call, in order, on the harness's inputs."""

    candidate: str = "candidate.py"
    device: str
    dtype: str
    extensions: list[Extension]
    models: list[CorrectnessModel]
    calls: list[CorrectnessCall]
    output_bytes: list[int] = Field(default_factory=list)
    own_kernels: list[str] = Field(default_factory=list)


class TimedTask(BaseModel):
    source: str
    path: str | None = None
    overrides: dict[str, int] = Field(default_factory=dict)


class TimedRequest(WorkerRequest):
    """What both timing workers get (the candidate's and the baseline's): the model, the input template and its
    domains, the settings, and the turn channel's two descriptors."""

    device: str
    dtype: str
    task: TimedTask
    model: ModelFiles
    template: str
    domains: list[str]
    settings: dict[str, int | float]
    turns: tuple[int, int]


class TimingRequest(TimedRequest):
    """kernelwright.workers.timing: times ModelNew in the parent's turns, asks over `channel` which calls are
    checked."""

    candidate: str = "candidate.py"
    extensions: list[Extension]
    channel: tuple[int, int] | None = None
    check_elements: int = 1 << 16


class BaselineRequest(TimedRequest):
    """kernelwright.verify.baseline_worker (trusted: never loads candidate code)."""

    compile_baseline: bool = True


class InspectRequest(WorkerRequest):
    """kernelwright.workers.inspect_candidate: runs the candidate's top level to record what it asks to build."""

    candidate: str = "candidate.py"


class BuildRequest(WorkerRequest):
    """kernelwright.workers.build: compiles one recorded extension (no candidate Python runs)."""

    spec: dict[str, Any]  # an ExtensionSpec
    toolchain: dict[str, Any]  # a Toolchain
    module: str
    pch: str | None = None


class KernelBenchRequest(WorkerRequest):
    """kernelwright.workers.kernelbench: one subject timed by KernelBench's published protocol."""

    subject: Literal["eager", "candidate"]
    device: str
    dtype: str
    seed: int
    warmup: int
    trials: int
    task: dict[str, Any] | None = None  # eager: the task whose Model it builds
    overrides: dict[str, int] = Field(default_factory=dict)
    candidate: str = "candidate.py"
    extensions: list[Extension] = Field(default_factory=list)


class ProfileRequest(WorkerRequest):
    """kernelwright.workers.profiling: "ncu" and "torch" profile a few calls, "run" only warms up, for a tool
    wrapped around the process (compute-sanitizer)."""

    mode: Literal["ncu", "torch", "run"]
    candidate: str = "candidate.py"
    device: str
    dtype: str
    extensions: list[Extension]
    task: dict[str, Any]
    overrides: dict[str, int]
    seed: int  # the weights' init seed, derived from the verification's seed as the verifier derives it
    own_kernels: list[str]
    warmup_calls: int
    profiled_calls: int = 0
    timed_calls: int = 0
    calibration_ranges: int = 0
    nvtx_range: str = ""


def profile_request(mode: str, task: Any, device: str, extensions: list[dict[str, str]], overrides: dict[str, int],
                    seed: int | None, own_kernels: list[str], threads: int, **calls: Any) -> ProfileRequest:
    """The profile worker's request. `calls`: warmup_calls, and for the profiling modes profiled_calls,
    timed_calls, calibration_ranges and nvtx_range."""
    return ProfileRequest(
        mode=mode, device=device, dtype=task.declarations.dtype, threads=threads,  # type: ignore[arg-type]
        allow_tf32=bool(task.declarations.allow_tf32), extensions=extensions, task=task.model_dump(mode="json"),
        overrides=overrides, seed=(seed if seed is not None else 0) % 100_000 + 1, own_kernels=own_kernels, **calls)


def write_request(job: Path, request: WorkerRequest) -> None:
    (job / "request.json").write_text(request.model_dump_json())


# ---------------------------------------------------------------------------------------------- results


class WorkerResult(BaseModel):
    """What every worker's result.json holds at least; each worker adds its own fields (checked by its judge)."""

    model_config = ConfigDict(extra="allow", strict=True)  # strict: "ok": "yes" is not a success

    ok: bool
    stage: str | None = None
    error: str | None = None
    kind: str | None = None
    candidate_error: bool = False
    out_of_memory: bool = False
    trace: str | None = None


class InspectResult(WorkerResult):
    specs: list[dict[str, Any]] = Field(default_factory=list)


class BuildResult(WorkerResult):
    seconds: float | None = None
    library: str | None = None
    fast_layout: bool = False


Result = TypeVar("Result", bound=WorkerResult)


def read_result(job: Path, model: type[Result], name: str = "result.json",
                max_bytes: int = 32 * 1024 * 1024) -> dict[str, Any]:
    """A worker's result as data its judge reads: {} when absent (the worker died first), and a failure naming
    the mismatch when it is not JSON or does not fit `model` (a worker that wrote garbage is broken)."""
    try:
        raw = read_worker_file(job, name, max_bytes)
    except OSError:
        return {}
    except ValueError as exc:  # a symlink, a FIFO, too large
        return _malformed(str(exc)[:500])
    try:
        value = json.loads(raw)
        return model.model_validate(value).model_dump(exclude_unset=True) if isinstance(value, dict) else \
            _malformed(f"{name} holds a {type(value).__name__}, not an object")
    except ValueError as exc:  # json's and pydantic's errors alike
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) + f": {first['msg']}" if first else str(exc)
        return _malformed(f"{name} does not fit the protocol ({where})"[:500])


def _malformed(detail: str) -> dict[str, Any]:
    return {"ok": False, "stage": "protocol", "error": f"the worker's result is malformed: {detail}"}
