"""How many threads a worker gets, and the environment that pins its runtimes to that number."""

from __future__ import annotations

import os

from .limits import load_limits


def worker_threads(limit: int | None) -> int:
    """Threads a worker may use: the phase's limit, at most the cores there are."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, limit or cores))


# The job folders of every process that loads candidate code (correctness and timing) look alike.
CANDIDATE_JOB_PREFIX = "kw-job-"


def candidate_threads() -> int:
    """Threads of every process that loads candidate code: one number for the correctness and the timing phase
    (the smaller of their limits), so the thread count does not tell the phases apart."""
    limits = [load_limits(phase).threads for phase in ("correctness", "timing")]
    return worker_threads(min((n for n in limits if n), default=None))


def thread_env(threads: int, *, cuda: bool) -> dict[str, str]:
    """The environment that pins every BLAS / OpenMP runtime of a worker to `threads`. On the CPU idle OpenMP
    threads sleep: torch and a candidate's extension each bring a runtime, and spinning idle threads of one
    starve the other on a small machine (measured: 0.02 ms calls read 8 ms)."""
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    if not cuda:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env
