"""One pre-load state for every process that loads candidate code to run it (the correctness and the timing
worker).

A candidate that can tell the phases apart can be honest when checked and cheat when timed. So both workers import
this module first, which imports everything either of them needs (one set of modules in `sys.modules`, one
`dir(torch)`); `worker_main` applies the same settings to both (threads, the precision rule) and both call
`reset_extension_wrapper()` before they load the candidate; `preload_state()`, recorded by both just before the
load, lets a test (and the orchestrator) compare them. The baselines (eager, torch.compile) run in their own
worker, which never loads candidate code (`kernelwright.verify.baseline_worker`).

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
from contextlib import nullcontext  # noqa: F401
from pathlib import Path  # noqa: F401
from typing import Any

import torch
import torch.profiler  # noqa: F401

from ..sandbox import candidate_loading, protocol, sealed, turns, worker_main, worker_result  # noqa: F401
from ..sandbox.candidate_loading import CountingExtension
from ..sandbox.torch_state import patch_snapshot, state_snapshot
from ..tasks import instantiate  # noqa: F401
from ..verify import attribution, cuda_timing, distributions, measures, stats  # noqa: F401

# Environment values that name the job's own folder (different in every process by design).
JOB_VALUES = ("HOME", "TMPDIR", "TORCH_EXTENSIONS_DIR", "XDG_CACHE_HOME")


def reset_extension_wrapper() -> None:
    """Every call names its own functions' ranges under a prefix the candidate cannot know (the correctness worker
    profiles a few calls); ranges are recorded only while `profiling` is on, which that worker sets after the load."""
    CountingExtension.profiling = False
    CountingExtension.range_prefix = f"kw_own_{os.urandom(6).hex()}::"
    CountingExtension.calls.clear()


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


