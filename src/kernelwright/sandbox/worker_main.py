"""`worker_main`: how every worker starts and ends, the same way for all: those that run candidate code
(kernelwright.workers) and the trusted baseline worker, which must run under the same settings.

It binds what it needs at the end before anything else runs (`os._exit`, the flushes, a JSON encoder), reads and
validates the job's request against the worker's model (sandbox.protocol), deletes it (what the harness plans is
no business of the candidate's), applies the settings every worker shares (threads and the precision rule,
sandbox.torch_state), runs the worker, writes its result, and leaves through `os._exit(0)`: no atexit hook or
finalizer of the candidate's runs after the result is written.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from .protocol import WorkerRequest
from .torch_state import apply_settings
from .worker_result import error_record, finite

# A worker's run: given the job folder and the validated request as plain JSON data, the result to write, or None
# when it wrote result.json itself (through its sealed channel).
WorkerRun = Callable[[Path, dict[str, Any]], "dict[str, Any] | None"]


def worker_main(request_type: type[WorkerRequest], run: WorkerRun) -> NoReturn:
    exit_now, out, err = os._exit, sys.stdout.flush, sys.stderr.flush
    encode = json.JSONEncoder(allow_nan=False, default=str).encode
    job = Path(sys.argv[1])
    path = job / "request.json"
    try:
        request = request_type.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        result: dict[str, Any] | None = {"ok": False, "stage": "request", **error_record(exc)}
    else:
        result = None
    finally:
        path.unlink(missing_ok=True)
    if result is None:
        apply_settings(request.threads, request.allow_tf32)
        try:
            result = run(job, request.model_dump(mode="json"))
        except Exception as exc:  # the harness's own failure: still a report, never a silent crash
            result = {"ok": False, "stage": "worker", **error_record(exc)}
    if result is not None:
        (job / "result.json").write_text(encode(finite(result)))
    out()
    err()
    exit_now(0)
