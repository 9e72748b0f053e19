"""Compile-only CUDA preflight: every CUDA candidate source shipped in the repository builds (or is refused as it
should be) through kernelwright's own gate and build path, on a machine without a GPU.

GPU time is short; a compile error found there is GPU time wasted. These tests build, for sm_90 unless
KERNELWRIGHT_CUDA_ARCH says otherwise, what the GPU tests and demos will build:
  - the adversarial CUDA cases (tests/adversarial/cuda, per manifest.toml) through verify's gate-and-build
    step: the ones expected as STATIC_REJECT must be refused with their rules, the rest must build, the
    exploits that only show at run time (illegal address, stale memory) included;
  - the Coder replies of the shipped CUDA scripts (scripted/demo-cuda, also run by tests/agents/test_run_cuda.py
    and bench/eval_throughput.py), extracted as the Coder does, through the same step; a reply whose file is
    named `*compile_error*` must come back COMPILE_FAIL;
  - the CUDA source of tests/verify/test_timing.py, built as its `cuda_builds` fixture does (no gate: it keeps a
    private-stream function on purpose), and bench/candidates/cuda_*.py, built as bench/build_time.py does.
tests/profile/test_profile_gpu.py verifies the adversarial control, so it is covered by the first group.

Marked `cuda_build`; they skip unless torch is a CUDA build and nvcc is found. Run them on a dev box with a
CUDA torch (a few minutes on 2 cores the first time; KERNELWRIGHT_TEST_BUILD_CACHE keeps the builds):
    CUDA_HOME=/usr/local/cuda python -m pytest -m cuda_build tests/sandbox/test_cuda_compile.py
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
import torch

from kernelwright.agents.coder import extract_source
from kernelwright.llm.scripted import FileReply, Script, load_script, resolve_script
from kernelwright.sandbox.build import BuildCache, BuildOutcome, build_all
from kernelwright.sandbox.candidate_loading import exec_candidate, recording_loader
from kernelwright.sandbox.extensions import ExtensionSpec, default_toolchain
from kernelwright.selftest import AdversarialCase, load_manifest
from kernelwright.tasks import load_task
from kernelwright.verify.models import VerificationResult
from kernelwright.verify.pipeline import VerifyOptions, prebuild

ROOT = Path(__file__).resolve().parents[2]
ADVERSARIAL = ROOT / "tests" / "adversarial"
CUDA_CASES = [c for c in load_manifest(ADVERSARIAL) if c.device == "cuda"]
# Shipped scripted models with CUDA replies, and the task each one's replies are written for.
CUDA_SCRIPTS = {"demo-cuda": "tasks/level1/6_softmax.py"}
BENCH = sorted((ROOT / "bench" / "candidates").glob("cuda_*.py"))
TIMING_TESTS = ROOT / "tests" / "verify" / "test_timing.py"


def _missing_cuda_toolchain() -> str | None:
    if not torch.version.cuda:
        return f"torch {torch.__version__} is not a CUDA build: nothing to compile CUDA sources against"
    from torch.utils.cpp_extension import CUDA_HOME

    if CUDA_HOME is None or not (Path(CUDA_HOME) / "bin" / "nvcc").is_file():
        return f"nvcc not found (CUDA_HOME={CUDA_HOME}, nvcc on PATH: {shutil.which('nvcc')}): set CUDA_HOME"
    return None


pytestmark = pytest.mark.cuda_build


@pytest.fixture(scope="session")
def cuda_cache(build_cache_root: Path) -> BuildCache:
    missing = _missing_cuda_toolchain()
    if missing:
        pytest.skip(missing)
    return BuildCache(build_cache_root)


def _gate_and_build_candidate(task_path: str, source: str, cache: BuildCache) -> VerificationResult | list[BuildOutcome]:
    """verify's own static gate, inspection, native gate and build: its early verdict, or the builds."""
    options = VerifyOptions(device="cuda", time_candidate=False, compile_baseline=False)
    return prebuild(load_task(ROOT / task_path), source, options, cache)


def _record_and_build(source: str, cache: BuildCache) -> list[BuildOutcome]:
    """The extensions the candidate's import asks for, built with the harness's CUDA toolchain (no gate)."""
    specs: list[ExtensionSpec] = []
    exec_candidate(source, "candidate.py", recording_loader(specs))
    assert specs, "the candidate asks load_inline for no extension"
    return build_all(specs, default_toolchain("cuda"), cache)


def _assert_built(what: str, outcome: VerificationResult | list[BuildOutcome]) -> None:
    """Every extension compiled. The build worker's load_inline also loads the library (no GPU needed for that),
    so a launcher the C++ part declares but the CUDA part never defines fails here too, not only on the GPU."""
    if isinstance(outcome, VerificationResult):
        pytest.fail(f"{what}: stopped before building: {outcome.verdict} ({outcome.reason}): {outcome.summary}")
    assert outcome, f"{what}: nothing was built"
    for build in outcome:
        assert build.ok, f"{what}: {build.module} does not compile:\n{build.errors}"
        print(f"{what}: {build.module} built in {build.seconds:.1f} s{' (cached)' if build.cached else ''}"
              f"{' (fast layout)' if build.fast_layout else ''}")


# ---------------------------------------------------------------------------------------------- adversarial


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CUDA_CASES])
def test_adversarial_cuda_candidate(case: AdversarialCase, cuda_cache: BuildCache) -> None:
    outcome = _gate_and_build_candidate(case.task, (ADVERSARIAL / case.file).read_text(), cuda_cache)
    if isinstance(outcome, VerificationResult) and outcome.verdict == "STATIC_REJECT":
        assert "STATIC_REJECT" in case.expected, f"{case.file}: refused by the gate: {outcome.summary}"
        rules = {f["rule"] for f in outcome.findings if f["severity"] == "reject"}
        assert set(case.reasons) <= rules, f"{case.file}: refused by {sorted(rules)}, expected {case.reasons}"
        return
    assert case.expected != ["STATIC_REJECT"], f"{case.file}: the gate let it through to the compiler"
    _assert_built(case.file, outcome)


# ---------------------------------------------------------------------------------------------- scripted models


def _script_replies() -> list[object]:
    params = []
    for name, task in CUDA_SCRIPTS.items():
        script = Script.model_validate_json(resolve_script(name).read_text())
        for index, entry in enumerate(script.coder):
            label = Path(entry.file).stem if isinstance(entry, FileReply) else f"coder{index}"
            params.append(pytest.param(name, index, task, "compile_error" in label, id=f"{name}/{label}"))
    return params


@pytest.mark.parametrize(("script", "index", "task", "must_fail"), _script_replies())
def test_scripted_cuda_reply(script: str, index: int, task: str, must_fail: bool, cuda_cache: BuildCache) -> None:
    reply = load_script(resolve_script(script))["coder"][index]
    source = extract_source(reply)
    assert source is not None, f"{script} coder reply {index}: the Coder finds no ModelNew source in it"
    outcome = _gate_and_build_candidate(task, source, cuda_cache)
    if must_fail:
        assert isinstance(outcome, VerificationResult) and outcome.verdict == "COMPILE_FAIL", \
            f"{script} coder reply {index} is meant to fail compilation, got {outcome}"
        assert "error" in (outcome.error or "").lower(), outcome.error
        return
    _assert_built(f"{script} coder reply {index}", outcome)


# ---------------------------------------------------------------------------------------------- GPU tests, bench


def _timing_test_source() -> str:
    """The candidate tests/verify/test_timing.py's `cuda_builds` fixture builds, read from its constants."""
    constants = {node.targets[0].id: ast.literal_eval(node.value)
                 for node in ast.parse(TIMING_TESTS.read_text()).body
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                 and node.targets[0].id in ("CUDA_SOFTMAX", "CUDA_TEMPLATE")}
    return constants["CUDA_TEMPLATE"].format(cuda=constants["CUDA_SOFTMAX"], function="softmax_forward")


def test_timing_test_cuda_source(cuda_cache: BuildCache) -> None:
    _assert_built("tests/verify/test_timing.py CUDA_SOFTMAX", _record_and_build(_timing_test_source(), cuda_cache))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in BENCH])
def test_bench_cuda_candidate(path: Path, cuda_cache: BuildCache) -> None:
    _assert_built(f"bench/candidates/{path.name}", _record_and_build(path.read_text(), cuda_cache))


def test_inventory_is_not_empty() -> None:
    """A moved folder or renamed constant must fail here, not leave the preflight silently checking less."""
    assert len(CUDA_CASES) >= 6 and len(BENCH) >= 3 and len(_script_replies()) >= 2
    assert "load_inline" in _timing_test_source()
