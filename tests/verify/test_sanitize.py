"""compute-sanitizer over finalists: reading the tool's log, judging each tool, and a real verification on the
CPU with stand-in `compute-sanitizer` scripts that run the real profile worker (no GPU here)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kernelwright.sandbox.build import BuildCache
from kernelwright.sandbox.isolation import IsolationInfo, WorkerOutcome
from kernelwright.tasks import load_task
from kernelwright.verify.pipeline import VerifyOptions, verify
from kernelwright.verify.sanitize import (ERROR_EXIT, SANITIZER_ENV, SanitizerReport, SanitizerSettings, judge_check,
                                          read_log, sanitize)

ROOT = Path(__file__).resolve().parents[2]
TASK = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
CONTROL = (ROOT / "tests" / "adversarial" / "cpu" / "control_softmax.py").read_text()

MEMCHECK_OWN = """========= COMPUTE-SANITIZER
========= Invalid __global__ write of size 4 bytes
=========     at softmax_rows(const float *, float *, int)+0x1f0
=========     by thread (255,0,0) in block (15,0,0)
=========     Address 0x7f10c0000400 is out of bounds
=========
========= Program hit cudaErrorLaunchFailure (error 719) due to "unspecified launch failure" on CUDA API call to cudaDeviceSynchronize.
=========     Saved host backtrace up to driver entry point at error
=========
========= ERROR SUMMARY: 2 errors
"""
LIBRARY_ONLY = """========= COMPUTE-SANITIZER
========= Uninitialized __global__ memory read of size 16 bytes
=========     at void at::native::vectorized_elementwise_kernel<4, float>(int, float *)+0x90
=========     by thread (0,0,0) in block (0,0,0)
=========
========= ERROR SUMMARY: 1 error
"""
RACE = """========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at block_reduce(float, bool)+0x80
=========     and Read access at block_reduce(float, bool)+0xa0 [256 hazards]
=========
========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)
"""
CLEAN = "========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n"
OWN = ["softmax_rows", "block_reduce"]


def _outcome(returncode: int = 0, timed_out: bool = False) -> WorkerOutcome:
    return WorkerOutcome(returncode=returncode, timed_out=timed_out, wall_s=3.0,
                         isolation=IsolationInfo(method="bwrap", network="isolated", filesystem="confined"))


def test_the_log_splits_into_records_placed_in_own_or_library_kernels() -> None:
    own, other, counted = read_log(MEMCHECK_OWN, OWN)
    assert counted == 2 and len(own) == 1 and len(other) == 1
    assert own[0][0] == "Invalid __global__ write of size 4 bytes" and "softmax_rows" in own[0][1]
    assert other[0][0].startswith("Program hit cudaErrorLaunchFailure")
    own, other, counted = read_log(RACE, OWN)
    assert counted == 1 and len(own) == 1 and other == []
    assert read_log(CLEAN, OWN) == ([], [], 0)
    assert read_log(LIBRARY_ONLY, []) == ([], [[
        "Uninitialized __global__ memory read of size 16 bytes",
        "at void at::native::vectorized_elementwise_kernel<4, float>(int, float *)+0x90",
        "by thread (0,0,0) in block (0,0,0)"]], 1)


def test_errors_count_against_the_candidate_unless_every_one_is_in_a_library_kernel() -> None:
    ok = {"ok": True}
    found = judge_check("memcheck", _outcome(ERROR_EXIT), MEMCHECK_OWN, ok, OWN, 300)
    assert found.status == "errors" and found.errors == 2 and found.own_errors == 1
    assert found.first[0] == "Invalid __global__ write of size 4 bytes"

    library = judge_check("initcheck", _outcome(ERROR_EXIT), LIBRARY_ONLY, ok, OWN, 300)
    assert library.status == "clean" and library.library_errors == 1 and "library kernels" in (library.detail or "")

    # counted more than it printed (or the log was cut short): what cannot be placed counts against it
    hidden = judge_check("initcheck", _outcome(ERROR_EXIT), LIBRARY_ONLY.replace("1 error", "3 errors"), ok, OWN, 300)
    assert hidden.status == "errors" and hidden.errors == 3 and "the rest count against it" in (hidden.detail or "")
    erased = judge_check("memcheck", _outcome(ERROR_EXIT), "", ok, OWN, 300)
    assert erased.status == "errors" and erased.first == ["no log"]

    assert judge_check("racecheck", _outcome(ERROR_EXIT), RACE, ok, OWN, 300).status == "errors"
    assert judge_check("memcheck", _outcome(0), CLEAN, ok, OWN, 300).status == "clean"
    crashed = judge_check("memcheck", _outcome(1), CLEAN, {"ok": False, "error": "RuntimeError: boom"}, OWN, 300)
    assert crashed.status == "failed" and "RuntimeError: boom" in (crashed.detail or "")
    slow = judge_check("racecheck", _outcome(-9, timed_out=True), "", None, OWN, 120)
    assert slow.status == "failed" and "120 s" in (slow.detail or "")


# A stand-in for compute-sanitizer: `--tool T --error-exitcode N --print-limit N --log-file LOG WORKER...`. It runs
# the worker it was handed; initcheck then counts two errors but prints one (the other cannot be placed), the other
# tools find nothing.
FAKE = """#!/bin/sh
tool="$2"; log="$8"
shift 8
"$@"; status=$?
echo "========= COMPUTE-SANITIZER" > "$log"
if [ "$tool" = initcheck ]; then
  printf '========= Uninitialized __global__ memory read of size 4 bytes\\n=========     at own_kernel(float *)+0x10\\n' >> "$log"
  echo "========= ERROR SUMMARY: 2 errors" >> "$log"
  exit 86
fi
echo "========= ERROR SUMMARY: 0 errors" >> "$log"
exit $status
"""


def _fake(folder: Path) -> Path:
    path = folder / "compute-sanitizer"
    path.write_text(FAKE)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_sanitizer_error_turns_a_correct_candidate_incorrect(build_cache_root: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SANITIZER_ENV, str(_fake(tmp_path)))
    options = VerifyOptions(device="cpu", time_candidate=False, compile_baseline=False, sanitize=True)
    result = verify(TASK, CONTROL, options, BuildCache(build_cache_root))
    checks = {c["tool"]: c for c in (result.sanitizer or {}).get("checks", [])}
    assert set(checks) == {"memcheck", "racecheck", "initcheck"}, result.sanitizer
    assert checks["memcheck"]["status"] == checks["racecheck"]["status"] == "clean", checks  # the worker ran fine
    assert checks["initcheck"]["status"] == "errors" and result.sanitizer["overrides"] == {
        "batch_size": 16, "features": 509}
    assert result.verdict == "INCORRECT" and result.reason == "sanitizer_initcheck"
    assert result.precision == "highest"  # float32 without ALLOW_TF32, as every worker read it back before the load
    assert "Uninitialized __global__ memory read" in result.summary and "sanitize" in result.phase_seconds


def test_a_missing_sanitizer_is_a_note_not_a_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SANITIZER_ENV, str(tmp_path / "nowhere"))
    report = sanitize(TASK, CONTROL, [], [], "cpu", 1, {}, SanitizerSettings(paths=[]))
    assert report.checks == [] and report.failing() is None and "not an executable file" in (report.note or "")
    assert report.line().startswith("sanitizer: not run")


def test_the_panel_line_names_each_tool_and_its_outcome() -> None:
    report = SanitizerReport(executable="/x/compute-sanitizer", checks=[
        judge_check("memcheck", _outcome(ERROR_EXIT), MEMCHECK_OWN, {"ok": True}, OWN, 300),
        judge_check("initcheck", _outcome(ERROR_EXIT), LIBRARY_ONLY, {"ok": True}, OWN, 300)])
    assert report.line() == "sanitizer: memcheck errors (2) · initcheck clean (1 in library kernels)"
    assert report.failing() is report.checks[0]


CUDA = ROOT / "tests" / "adversarial" / "cuda"


@pytest.mark.gpu
@pytest.mark.parametrize(("case", "expected"), [("control_softmax_cuda.py", "clean"), ("illegal_address.py", "errors")])
def test_memcheck_on_the_gpu_passes_the_control_and_places_the_wild_write(case: str, expected: str,
                                                                          build_cache_root: Path) -> None:
    import torch

    from kernelwright.verify.attribution import kernel_names
    from kernelwright.verify.pipeline import prebuild

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    source = (CUDA / case).read_text()
    builds = prebuild(TASK, source, VerifyOptions(device="cuda"), BuildCache(build_cache_root))
    assert isinstance(builds, list), builds
    own = kernel_names([source])
    report = sanitize(TASK, source, [b.loader_entry() for b in builds], own, "cuda", 5,
                      {"batch_size": 16, "features": 509}, SanitizerSettings(tools=["memcheck"]))
    assert report.note is None, report.note
    [check] = report.checks
    assert check.status == expected, check
    if expected == "errors":
        assert check.own_errors >= 1 and any("wild_write_kernel" in line for line in check.first), check.first


def test_a_log_the_candidate_turned_into_a_symlink_is_not_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("========= Invalid read in harness_secret_kernel\n")
    tool = tmp_path / "compute-sanitizer"
    tool.write_text(f'#!/bin/sh\nln -sf {secret} "$8"\nexit 86\n')
    tool.chmod(0o755)
    monkeypatch.setenv(SANITIZER_ENV, str(tool))
    report = sanitize(TASK, CONTROL, [], [], "cpu", 1, {}, SanitizerSettings(tools=["memcheck"]))
    [check] = report.checks
    assert check.status == "errors" and check.first == ["no log"]  # counted by the exit status, never read through
    assert "harness_secret_kernel" not in report.model_dump_json()
