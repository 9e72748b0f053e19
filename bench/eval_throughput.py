"""Evaluation throughput: samples in flight at once vs one at a time, and how busy the device lane stays.

    python bench/eval_throughput.py --device cpu|cuda [--samples 6] [--workers 1,3] [--out bench/results/NAME.json]

Each setting runs `kernelwright eval` on one task with `--samples N --rounds 1` against a fake OpenAI-compatible
server on 127.0.0.1 that answers every request with a distinct candidate (a comment with a counter in its native
source), so every sample compiles for real; each setting starts from an empty build cache and database. Compilation
goes to the CPU pool and verification to the device lane, so with several workers one candidate compiles while
another is verified. Reported: wall time, samples per minute, the device lane's busy share (time verifying over
wall time) and the ratio of wall times, in one run on one machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from fake_llm import FakeLLMServer, Reply
from machine import machine

CANDIDATES = {"cpu": ROOT / "src" / "kernelwright" / "llm" / "scripts" / "add_rmsnorm" / "round3_faster.py",
              "cuda": ROOT / "src" / "kernelwright" / "llm" / "scripts" / "softmax_cuda" / "round1_warp_shuffle.py"}
TASKS = {"cpu": "level2/13_add_rmsnorm", "cuda": "level1/6_softmax"}


class DistinctCandidates:
    def __init__(self, source: str) -> None:
        self.source, self.counter, self.lock = source, itertools.count(), threading.Lock()

    def __call__(self, request) -> Reply:
        with self.lock:
            n = next(self.counter)
        marked = self.source.replace('CPP_SOURCE = r"""\n', f'CPP_SOURCE = r"""\n// bench variant {n}\n', 1)
        return Reply(f"```python\n{marked}```", input_tokens=1000, output_tokens=500)


def run_setting(device: str, samples: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kw-bench-eval-") as scratch, \
            FakeLLMServer(responder=DistinctCandidates(CANDIDATES[device].read_text())) as server:
        env = {**os.environ, "OPENAI_API_KEY": "bench", "KERNELWRIGHT_DB": f"{scratch}/kw.db",
               "KERNELWRIGHT_CACHE": f"{scratch}/cache", "NO_PROXY": "127.0.0.1,localhost"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kernelwright", "eval", TASKS[device], "--model", "openai/bench",
                               "--base-url", server.openai_base_url, "--device", device, "--rounds", "1",
                               "--samples", str(samples), "--workers", str(workers), "--no-profile",
                               "--no-compile-baseline", "--json"], env=env, cwd=ROOT, text=True, capture_output=True)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"eval failed with workers={workers}: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    verdicts = [t["best_verdict"] for t in summary["tasks"]]
    return {"workers": workers, "samples": samples, "wall_s": round(wall, 2),
            "samples_per_minute": round(samples / wall * 60, 3), "device_busy_share": summary["executor"]["device_busy_share"],
            "executor_wall_s": summary["executor"]["wall_s"], "builds": summary["executor"]["builds"],
            "verdicts": {v: verdicts.count(v) for v in set(verdicts)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--workers", default="1,3", help="comma-separated settings; the first is the baseline")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = [run_setting(args.device, args.samples, int(w)) for w in args.workers.split(",")]
    base = results[0]["wall_s"]
    for result in results:
        result["wall_ratio_vs_first"] = round(result["wall_s"] / base, 3)
        print(f"workers {result['workers']}: {result['wall_s']:.1f} s, {result['samples_per_minute']:.2f} samples/min, "
              f"device busy {result['device_busy_share']:.0%}, wall x{result['wall_ratio_vs_first']:.2f}")
    report = {"benchmark": "eval_throughput", "device": args.device, "machine": machine(), "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
