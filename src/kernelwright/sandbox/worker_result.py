"""How a worker that runs candidate code reports: an exception as data, and a JSON result written before exiting."""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from .candidate_loading import CandidateError


def error_record(exc: BaseException) -> dict[str, Any]:
    """An exception as the orchestrator reads it: one line, its kind, whose fault, and the trace's tail."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-4)
    return {"error": f"{type(exc).__name__}: {exc}".strip()[:2000], "kind": type(exc).__name__,
            "candidate_error": isinstance(exc, CandidateError), "trace": "".join(lines)[-3000:]}


def finite(value: Any) -> Any:
    """JSON has no NaN/Inf: they become null (the orchestrator treats a missing sample as a broken result)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_and_exit(job: Path, result: dict[str, Any]) -> None:
    (job / "result.json").write_text(json.dumps(finite(result), allow_nan=False, default=str))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit hook or finalizer of the candidate's runs after the result is written
