"""Inspect phase worker: runs the candidate's top level to record what it asks load_inline to build.

Nothing is compiled here and no extension is usable yet. Usage: python -m kernelwright.verify.inspect_worker JOB_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..sandbox.candidate_loading import exec_candidate, recording_loader
from ..sandbox.extensions import ExtensionSpec


def inspect(job: Path) -> dict:
    specs: list[ExtensionSpec] = []
    try:
        exec_candidate((job / "candidate.py").read_text(), "candidate.py", recording_loader(specs))
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000], "specs": [s.model_dump() for s in specs]}
    return {"ok": True, "specs": [s.model_dump() for s in specs]}


def main() -> None:
    job = Path(sys.argv[1])
    (job / "result.json").write_text(json.dumps(inspect(job)))


if __name__ == "__main__":
    main()
