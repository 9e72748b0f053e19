"""Inspect phase worker: runs the candidate's top level to record what it asks load_inline to build.

Nothing is compiled here and no extension is usable yet.
Usage: python -m kernelwright.workers.inspect_candidate JOB_DIR  (request: sandbox.protocol.InspectRequest)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..sandbox.candidate_loading import exec_candidate, recording_loader
from ..sandbox.extensions import ExtensionSpec
from ..sandbox.protocol import InspectRequest


def inspect(job: Path, request: dict[str, Any]) -> dict[str, Any]:
    specs: list[ExtensionSpec] = []
    try:
        exec_candidate((job / request["candidate"]).read_text(), "candidate.py", recording_loader(specs))
    except Exception as exc:
        return {"ok": False, "stage": "import", "error": f"{type(exc).__name__}: {exc}"[:2000],
                "specs": [s.model_dump() for s in specs]}
    return {"ok": True, "specs": [s.model_dump() for s in specs]}


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(InspectRequest, inspect)
