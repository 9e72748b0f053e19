"""KernelBench-comparable timing, measured beside kernelwright's own so a user can quote both.

kernelwright's protocol (`timing.py`) is the one verdicts and speedup claims rest on: fresh inputs every call,
L2 flushed, device-wide sync before the end event less its own cost, CUDA-graph replay for short calls, re-checked
outputs, integrity flags. Published KernelBench numbers come from a simpler protocol (`kernelwright.workers.kernelbench`):
3 warm-up calls, 100 trials of CUDA events around one call on fixed inputs, the mean, speedup = eager mean /
candidate mean. Its figures here are evidence for comparison, never a verdict: they carry no integrity checks.
The baseline and the candidate run in separate processes; the candidate's never holds the baseline.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..sandbox.isolation import WorkerOutcome, load_limits, run_isolated, thread_env, worker_threads
from ..sandbox.protocol import KernelBenchRequest, WorkerResult, read_result, write_request

KB_WARMUP = 3
KB_TRIALS = 100

Runner = Callable[..., WorkerOutcome]


class ProtocolStats(BaseModel):
    """One subject's trial times, summarised as KernelBench reports them."""

    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    trials: int


class KernelBenchTiming(BaseModel):
    protocol: Literal["kernelbench"] = "kernelbench"
    method: str | None = None  # cuda_event | perf_counter
    warmup: int = KB_WARMUP
    trials: int = KB_TRIALS
    shape_overrides: dict[str, int] = Field(default_factory=dict)
    subjects: dict[str, ProtocolStats] = Field(default_factory=dict)
    speedup_eager: float | None = None  # eager mean / candidate mean, KernelBench's definition
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"KernelBench protocol: not measured ({self.error})"
        eager, candidate = self.subjects.get("eager"), self.subjects.get("candidate")
        if eager is None or candidate is None or self.speedup_eager is None:
            return "KernelBench protocol: not measured"
        return (f"KernelBench protocol ({self.warmup} warm-up, {self.trials} trials, {self.method}, mean): "
                f"candidate {candidate.mean_ms:.4g} ms · eager {eager.mean_ms:.4g} ms · "
                f"speedup {self.speedup_eager:.2f}x")


def summarise(times: list[float]) -> ProtocolStats:
    return ProtocolStats(mean_ms=statistics.fmean(times), std_ms=statistics.pstdev(times), min_ms=min(times),
                         max_ms=max(times), trials=len(times))


def run_kernelbench_timing(task: Any, candidate_source: str, builds: Sequence[Any], shape_overrides: dict[str, int],
                           device: str, seed: int, *, warmup: int = KB_WARMUP, trials: int = KB_TRIALS,
                           runner: Runner | None = None, lane: str | None = None) -> KernelBenchTiming:
    """Times the task's Model, then the candidate, each in its own isolated worker on `lane`'s GPU, by KernelBench's
    protocol."""
    runner = runner or run_isolated
    limits = load_limits("timing")
    threads = worker_threads(limits.threads)
    report = KernelBenchTiming(warmup=warmup, trials=trials, shape_overrides=dict(shape_overrides))
    job = Path(tempfile.mkdtemp(prefix="kw-kernelbench-"))
    extensions = [b.loader_entry() for b in builds]
    libraries = sorted({Path(e["library"]).parent for e in extensions if e.get("library")})
    common = {"device": device, "dtype": task.declarations.dtype, "threads": threads, "seed": seed,
              "warmup": warmup, "trials": trials, "allow_tf32": bool(task.declarations.allow_tf32)}
    try:
        (job / "candidate.py").write_text(candidate_source)
        requests = {
            "eager": KernelBenchRequest(**common, subject="eager", task=task.model_dump(mode="json"),
                                        overrides=dict(shape_overrides)),
            "candidate": KernelBenchRequest(**common, subject="candidate", extensions=extensions),
        }
        for subject, request in requests.items():
            write_request(job, request)
            (job / "result.json").unlink(missing_ok=True)
            outcome = runner([sys.executable, "-m", "kernelwright.workers.kernelbench", str(job)], job_dir=job,
                             limits=limits, gpu=device.startswith("cuda"), lane=lane, readable_extra=libraries,
                             env_extra=thread_env(threads, cuda=device.startswith("cuda")))
            result = read_result(job, WorkerResult)
            times = result.get("times_ms")
            if not result.get("ok") or not isinstance(times, list) or len(times) != trials \
                    or not all(isinstance(t, (int, float)) and t >= 0 for t in times):
                report.error = f"{subject}: {_failure(result, outcome)}"
                return report
            report.method = str(result.get("method"))
            report.subjects[subject] = summarise([float(t) for t in times])
        candidate = report.subjects["candidate"].mean_ms
        report.speedup_eager = report.subjects["eager"].mean_ms / candidate if candidate > 0 else None
    except Exception as exc:  # a measurement for comparison must never end a verification
        report.error = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        shutil.rmtree(job, ignore_errors=True)
    return report


def _failure(result: dict[str, Any], outcome: WorkerOutcome) -> str:
    if outcome.timed_out:
        return "timed out"
    if result.get("error"):
        return f"{result.get('stage', 'worker')}: {str(result['error']).splitlines()[0]}"[:300]
    if result.get("ok"):
        return "malformed times"
    return f"the worker ended without a result (exit {outcome.returncode}, {outcome.signal_name or 'no signal'})"
