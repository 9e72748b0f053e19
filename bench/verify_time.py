"""Verification wall time per candidate on a level-1 task, split by phase.

    python bench/verify_time.py [--device cpu|cuda] [--repeats 3] [--out bench/results/NAME.json]

The candidate's build is cached by the first run (reported apart); the repeats measure what a loop pays
per candidate once its source has been compiled: static gate, inspect, cache hit, correctness, timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from kernelwright.sandbox.build import BuildCache
from kernelwright.tasks import load_task
from kernelwright.verify.pipeline import VerifyOptions, verify

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "verify"))
    from candidates import HONEST  # the CPU softmax candidate the tests use

    source = HONEST if args.device == "cpu" else (ROOT / "bench" / "candidates" / "cuda_row_softmax.py").read_text()
    task = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
    cache = BuildCache(Path(tempfile.mkdtemp(prefix="kw-bench-verify-")))
    options = VerifyOptions(device=args.device, compile_baseline=False)
    first = verify(task, source, options, cache)
    runs = [verify(task, source, options, cache) for _ in range(args.repeats)]
    assert all(r.verdict == "PASS" for r in [first, *runs]), [r.summary for r in [first, *runs]]
    summary = {
        "device": args.device, "task": task.ref, "first_run_s": round(first.wall_s, 2),
        "first_run_phases": first.phase_seconds, "median_wall_s": round(statistics.median(r.wall_s for r in runs), 2),
        "phases": [r.phase_seconds for r in runs],
        "environment": (runs[-1].timing or {}).get("environment", {}),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
