"""`kernelwright run` on a GPU with the shipped CUDA demo script: Nsight Compute feedback reaches the Judge, and
when ncu fails the torch.profiler fallback does, saying so; the best candidate's final verification runs
compute-sanitizer. Run on a GPU machine with `pytest -m gpu`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kernelwright.store import Store
from kernelwright.verify.sanitize import SanitizerReport

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, env_extra: dict[str, str], *extra: str) -> tuple[dict, list, list, list]:
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db"), **env_extra}
    done = subprocess.run([sys.executable, "-m", "kernelwright", "run", "level1/6_softmax", "--model",
                           "scripted/demo-cuda", "--device", "cuda", "--rounds", "2", "--json", *extra],
                          env=env, cwd=ROOT, text=True, capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    with Store(tmp_path / "kw.db", readonly=True) as store:
        candidates = store.candidates(run_id=summary["run_id"])
        profiles = [p for c in candidates for p in store.profiles(candidate_id=c.id)]
        judge = [c for c in store.llm_calls(run_id=summary["run_id"]) if c.role == "judge"]
        verifications = [v for c in candidates for v in store.verifications(candidate_id=c.id)]
    return summary, profiles, judge, verifications


def test_ncu_metrics_reach_the_judge(tmp_path):
    summary, profiles, judge, verifications = run_demo(tmp_path, {})
    assert summary["tasks"][0]["best_verdict"] == "PASS"
    [final] = [v.evidence for v in verifications if v.evidence.get("sanitizer")]  # the finalist's re-verification
    sanitized = SanitizerReport.model_validate(final["sanitizer"])
    assert sanitized.note is None and [c.tool for c in sanitized.checks] == ["memcheck", "racecheck", "initcheck"]
    assert all(c.status == "clean" for c in sanitized.checks), sanitized.checks
    first = profiles[0]
    if first.fallback:  # a box without ncu or counter permission must say why, and still profile
        pytest.skip(f"ncu unavailable here: {first.fallback}")
    assert first.tool == "ncu"
    own = [row for row in first.metrics["kernels"] if row["own"]]
    assert own and "dram__throughput.avg.pct_of_peak_sustained_elapsed" in own[0]["metrics"]
    assert "row_softmax_kernel" in judge[0].messages[-1]["content"]


def test_ncu_failure_falls_back_to_torch_profiler_and_says_so(tmp_path):
    failing = tmp_path / "ncu"
    failing.write_text("#!/bin/sh\necho '==ERROR== the profiler crashed' >&2\nexit 1\n")
    failing.chmod(0o755)
    summary, profiles, judge, _ = run_demo(tmp_path, {"KERNELWRIGHT_NCU": str(failing)}, "--no-sanitize")
    assert summary["tasks"][0]["best_verdict"] == "PASS"
    assert profiles and all(p.tool == "torch.profiler" and p.fallback for p in profiles)
    prompt = judge[0].messages[-1]["content"]
    assert "torch.profiler" in prompt and "ncu" in prompt and "row_softmax_kernel" in prompt
