"""One pre-load state for every process that loads candidate code (the correctness and the timing worker).

A candidate that can tell the phases apart can be honest when checked and cheat when timed. So both workers import
this module first, which imports everything either of them needs (one set of modules in `sys.modules`, one
`dir(torch)`), and call `prepare()` with the same request fields (threads, precision, the extension wrapper's
state) before they load the candidate; `preload_state()`, recorded by both just before the load, lets a test (and
the orchestrator) compare them. The baselines (eager, torch.compile) run in their own worker, which never loads
candidate code (`kernelwright.verify.baseline_worker`).

Not covered: `sys.argv` names the worker module, and the job folder holds different files; a phase-dependent
kernel that reads those is caught by the timed re-check of outputs.
"""

from __future__ import annotations

# The union of both workers' imports, so that neither imports anything the other lacks before the load.
import copy  # noqa: F401
import json  # noqa: F401
import math  # noqa: F401
import os
import sys
import time  # noqa: F401
import types  # noqa: F401
import warnings
from collections.abc import Callable
from contextlib import nullcontext  # noqa: F401
from pathlib import Path  # noqa: F401
from typing import Any

import torch
import torch.profiler  # noqa: F401

from ..sandbox import candidate_loading, sealed, turns, worker_result  # noqa: F401
from ..sandbox.candidate_loading import CountingExtension
from ..tasks import instantiate  # noqa: F401
from . import attribution, cuda_timing, distributions, measures, stats  # noqa: F401

# Environment values that name the job's own folder (different in every process by design).
JOB_VALUES = ("HOME", "TMPDIR", "TORCH_EXTENSIONS_DIR", "XDG_CACHE_HOME")


def prepare(request: dict[str, Any]) -> None:
    """The process-wide settings every candidate process gets, from the request fields both phases send."""
    torch.set_num_threads(int(request.get("threads") or 1))
    set_precision(bool(request.get("allow_tf32")))
    # Every call names its own functions' ranges under a prefix the candidate cannot know (the correctness worker
    # profiles a few calls); ranges are recorded only while `profiling` is on, which that worker sets after the load.
    CountingExtension.profiling = False
    CountingExtension.range_prefix = f"kw_own_{os.urandom(6).hex()}::"
    CountingExtension.calls.clear()


def set_precision(allow_tf32: bool) -> None:
    """fp32 means fp32 math unless the task allows TF32 (see the precision policy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
        torch.backends.cudnn.allow_tf32 = allow_tf32
        torch.set_float32_matmul_precision("high" if allow_tf32 else "highest")


def preload_state(job: str) -> dict[str, Any]:
    """What candidate code could read at its load to tell one worker from another, with the job folder's own path
    written as "<job>": imported modules, torch's attributes, process-wide torch settings, the environment, the
    extension wrapper's state."""
    env = {name: ("<job>" if name in JOB_VALUES else value.replace(job, "<job>")) for name, value in os.environ.items()}
    state = state_snapshot()  # first: whatever its probes import is imported in every worker alike
    patch_snapshot()
    return {
        "modules": sorted(sys.modules),
        "torch_attributes": sorted(dir(torch)),
        "torch_state": state,
        "environment": dict(sorted(env.items())),
        "cwd": os.getcwd().replace(job, "<job>"),
        "extension_wrapper": {"profiling": CountingExtension.profiling, "calls": len(CountingExtension.calls),
                              "prefix_length": len(CountingExtension.range_prefix)},
        "cuda_initialized": bool(torch.cuda.is_initialized()),
    }


def state_snapshot() -> dict[str, Any]:
    """Process-wide settings that change what torch computes or how fast."""
    state: dict[str, Any] = {}
    probes: dict[str, Callable[[], Any]] = {
        "cuda.matmul.allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
        "cuda.matmul.allow_fp16_reduced_precision_reduction":
            lambda: torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
        "cuda.matmul.allow_bf16_reduced_precision_reduction":
            lambda: torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
        "cudnn.allow_tf32": lambda: torch.backends.cudnn.allow_tf32,
        "cudnn.benchmark": lambda: torch.backends.cudnn.benchmark,
        "cudnn.deterministic": lambda: torch.backends.cudnn.deterministic,
        "cudnn.enabled": lambda: torch.backends.cudnn.enabled,
        "mkldnn.enabled": lambda: torch.backends.mkldnn.enabled,
        "sdp.flash": lambda: torch.backends.cuda.flash_sdp_enabled(),
        "sdp.mem_efficient": lambda: torch.backends.cuda.mem_efficient_sdp_enabled(),
        "sdp.math": lambda: torch.backends.cuda.math_sdp_enabled(),
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "num_threads": torch.get_num_threads,
        "num_interop_threads": torch.get_num_interop_threads,
        "default_dtype": lambda: str(torch.get_default_dtype()),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled,
        "grad_enabled": torch.is_grad_enabled,
        # a candidate that makes another stream current would move its own later work onto it
        "cuda.current_stream": lambda: (torch.cuda.current_stream().cuda_stream
                                        if torch.cuda.is_available() and torch.cuda.is_initialized() else None),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, probe in probes.items():
            try:
                value = probe()
                state[key] = value if isinstance(value, (bool, int, float, str)) else repr(value)
            except Exception as exc:
                state[key] = f"unreadable: {type(exc).__name__}"
    return state


def _patch_targets() -> dict[str, Any]:
    targets: dict[str, Any] = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.nn.functional": torch.nn.functional,
                               "torch.nn.Module": torch.nn.Module, "time": sys.modules["time"],
                               "json": sys.modules["json"]}
    if torch.cuda.is_available():
        targets["torch.cuda.Event"] = torch.cuda.Event
    return targets


_CUDA_NAMES = ("synchronize", "Event", "Stream", "current_stream", "graph", "CUDAGraph", "get_device_properties")


def patch_snapshot() -> dict[str, Any]:
    """The objects bound to torch's (and time's) callables now: compared by identity after the candidate ran."""
    snapshot: dict[str, Any] = {}
    for label, target in _patch_targets().items():
        for key, value in list(vars(target).items()):
            if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                snapshot[f"{label}.{key}"] = value
    for key in _CUDA_NAMES:
        if key in vars(torch.cuda):
            snapshot[f"torch.cuda.{key}"] = vars(torch.cuda)[key]
    return snapshot


def patched_since(snapshot: dict[str, Any]) -> list[str]:
    now = patch_snapshot()
    return sorted(name for name, value in snapshot.items() if now.get(name) is not value)[:50]
