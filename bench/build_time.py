"""Build-time benchmark: plain `load_inline` vs kernelwright's harness-owned build vs a cache hit.

    python bench/build_time.py --backend cpu|cuda [--out bench/results/NAME.json]

Every mode builds the same candidates (bench/candidates/<backend>_*.py) in a fresh process. "plain" is
what a KernelBench-style harness does: load_inline with torch's implicit headers, in an empty build folder.
"ours" is `kernelwright.sandbox.build.build_extension` with an empty cache (torch-free CUDA files skip
torch's headers; the C++ wrapper uses the precompiled header, built once beforehand and reported apart).
"hit" is the same call again. Ratios are per candidate, in one run, on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

from kernelwright.sandbox.build import BuildCache, build_extension
from kernelwright.sandbox.candidate_loading import exec_candidate, recording_loader
from kernelwright.sandbox.extensions import ExtensionSpec, default_toolchain
from kernelwright.sandbox.pch import ensure_pch

HERE = Path(__file__).resolve().parent

PLAIN = """
import json, os, sys, time
from torch.utils.cpp_extension import load_inline
spec = json.loads(sys.argv[1])
started = time.perf_counter()
try:
    load_inline(name=spec["name"], cpp_sources=spec["cpp_sources"], cuda_sources=spec["cuda_sources"] or None,
                functions=spec["functions"], build_directory=sys.argv[2], with_cuda=bool(spec["cuda_sources"]))
except ImportError:  # built, but this machine has no GPU driver to load it: the build is what we time
    if not os.path.exists(os.path.join(sys.argv[2], spec["name"] + ".so")):
        raise
print(time.perf_counter() - started)
"""


def record(path: Path) -> ExtensionSpec:
    specs: list[ExtensionSpec] = []
    try:
        exec_candidate(path.read_text(), path.name, recording_loader(specs))
    except Exception:  # forward is never called; only the recorded build matters here
        pass
    return specs[0]


def plain_build(spec: ExtensionSpec, index: int, cuda_arch: str | None) -> float:
    build_dir = tempfile.mkdtemp(prefix="kw-bench-plain-")
    payload = spec.model_dump()
    payload["name"] = f"plain_{index}_{int(time.time() * 1000)}"
    env = {**os.environ, **({"TORCH_CUDA_ARCH_LIST": cuda_arch} if cuda_arch else {})}
    out = subprocess.run([sys.executable, "-c", PLAIN, json.dumps(payload), build_dir], capture_output=True, text=True,
                         check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["cpu", "cuda"], required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    toolchain = default_toolchain(args.backend)
    cache = BuildCache(Path(tempfile.mkdtemp(prefix="kw-bench-cache-")))
    started = time.perf_counter()
    pch = ensure_pch(toolchain, cache.root)
    pch_seconds = time.perf_counter() - started
    rows = []
    for index, path in enumerate(sorted(HERE.glob(f"candidates/{args.backend}_*.py"))):
        spec = record(path)
        plain = plain_build(spec, index, toolchain.cuda_arch)
        ours = build_extension(spec, toolchain, cache)
        started = time.perf_counter()
        hit = build_extension(spec, toolchain, cache)
        hit_seconds = time.perf_counter() - started
        assert ours.ok and hit.cached, ours.errors
        rows.append({"candidate": path.name, "plain_s": round(plain, 2), "ours_s": round(ours.seconds, 2),
                     "hit_s": round(hit_seconds, 4), "ratio": round(ours.seconds / plain, 3),
                     "fast_layout": ours.fast_layout})
        print(json.dumps(rows[-1]), flush=True)
    summary = {
        "backend": args.backend, "machine": machine(), "pch_seconds_once": round(pch_seconds, 1), "pch": bool(pch),
        "median_plain_s": statistics.median(r["plain_s"] for r in rows),
        "median_ours_s": statistics.median(r["ours_s"] for r in rows),
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "max_hit_s": max(r["hit_s"] for r in rows), "candidates": rows,
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
