"""Profiling real verified candidates on the CPU, and every way ncu can fail (with stand-in `ncu` scripts).

The two candidates share one C++ extension, built once into the session's build cache; each profile reuses the
verifier's build (the cache gains no entry). A CPU device has no ncu, so the ncu paths are driven with
tool="ncu" and scripts standing in for it.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from kernelwright.profile import profile_candidate
from kernelwright.profile.config import load_profiler_config
from kernelwright.profile.ncu import NCU_ENV, NO_PERMISSION, NOT_FOUND
from kernelwright.sandbox.build import BuildCache
from kernelwright.tasks import load_task
from kernelwright.verify.models import VerificationResult
from kernelwright.verify.pipeline import VerifyOptions, verify

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "adversarial" / "cpu"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TASK = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
SMALL = {"batch_size": 16, "features": 509}
CONTROL, LIBRARY = "control_softmax.py", "library_with_token_kernel_call.py"

PERMISSION_NCU = """#!/bin/sh
echo "==PROF== Connected to process 4242"
echo "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters on the target device 0. For instructions on enabling permissions and to get more information see https://developer.nvidia.com/ERR_NVGPUCTRPERM"
exit 1
"""
HANGING_NCU = "#!/bin/sh\nsleep 600\n"
# Runs the worker it was handed (the last four arguments) and leaves the fixture CSV where --log-file says;
# refuses the tensor-pipe metric the way ncu refuses a metric the GPU lacks.
WORKING_NCU = """#!/bin/sh
case "$*" in
  *sm__inst_executed_pipe_tensor*)
    echo "==ERROR== Failed to find metric sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_active"
    exit 1;;
esac
log=""
while [ $# -gt 4 ]; do
  if [ "$1" = "--log-file" ]; then log="$2"; fi
  shift
done
"$@" || exit $?
cat "$(dirname "$0")/ncu_raw_softmax.csv" > "$log"
"""


@pytest.fixture(scope="module")
def cache(build_cache_root: Path) -> BuildCache:
    return BuildCache(build_cache_root)


@pytest.fixture(scope="module")
def verified(cache: BuildCache) -> dict[str, tuple[str, VerificationResult]]:
    options = VerifyOptions(device="cpu", time_candidate=False, compile_baseline=False)
    results = {}
    for name in (CONTROL, LIBRARY):
        source = (CASES / name).read_text()
        results[name] = (source, verify(TASK, source, options, cache))
    return results


def _fake_ncu(folder: Path, script: str) -> Path:
    path = folder / "ncu"
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _entries(cache: BuildCache) -> set[Path]:
    return {p for p in cache.root.glob("*/*") if p.is_dir()}


def test_control_candidate_profiles_its_own_function_and_roofline(verified, cache: BuildCache) -> None:
    source, result = verified[CONTROL]
    assert result.verdict == "PASS", result.summary
    before = _entries(cache)
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache)
    assert _entries(cache) == before  # the verifier's build was reused, nothing compiled
    assert report.ok, report.error
    assert report.tool == "torch.profiler" and report.fallback is None and report.overrides == SMALL
    own = report.own_kernels()
    assert [row.name for row in own] == ["softmax_forward"]
    assert own[0].calls == report.profiled_calls == load_profiler_config().torch.profiled_calls
    assert own[0].total_us > 0
    assert all(not row.own for row in report.kernels if row.name.startswith("aten::"))
    roof = report.roofline
    assert roof is not None and roof.bound == "memory" and roof.flops == 0
    assert roof.bytes == 2 * SMALL["batch_size"] * SMALL["features"] * 4
    assert roof.time_ms > 0 and 0 < roof.bandwidth_fraction < 1 and roof.roof_fraction == roof.bandwidth_fraction
    assert roof.time_source == "wall clock in the profile worker"
    lines = report.highlights()
    assert lines[0].startswith("roofline: memory-bound")
    assert any(line.startswith("own function softmax_forward: 5 calls") for line in lines)


def test_library_candidate_shows_the_library_op_dominating(verified, cache: BuildCache) -> None:
    source, result = verified[LIBRARY]
    assert result.builds, result.summary  # SUSPECT, but built and runnable
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache)
    assert report.ok, report.error
    own = {row.name: row for row in report.kernels if row.own}
    library = {row.name: row for row in report.kernels if not row.own}
    assert set(own) == {"touch"} and "aten::softmax" in library
    assert library["aten::softmax"].total_us > own["touch"].total_us
    assert report.kernels[0].name == "aten::softmax"  # the largest row
    assert any(line.startswith("library ops (not the candidate's code)") and "aten::softmax" in line
               for line in report.highlights())


def test_missing_ncu_falls_back_to_torch_profiler(verified, cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(NCU_ENV, str(tmp_path / "no-such-ncu"))
    source, result = verified[CONTROL]
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache, tool="ncu")
    assert report.ok, report.error
    assert report.fallback == NOT_FOUND and report.tool == "torch.profiler"
    assert [row.name for row in report.own_kernels()] == ["softmax_forward"]
    assert report.highlights()[0] == "profiled with torch.profiler because ncu: ncu not found"


def test_counter_permission_error_falls_back(verified, cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(NCU_ENV, str(_fake_ncu(tmp_path, PERMISSION_NCU)))
    source, result = verified[CONTROL]
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache, tool="ncu")
    assert report.ok, report.error
    assert report.fallback == NO_PERMISSION and report.tool == "torch.profiler"
    assert report.own_kernels()


def test_hanging_ncu_is_killed_and_falls_back(verified, cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(NCU_ENV, str(_fake_ncu(tmp_path, HANGING_NCU)))
    config = load_profiler_config()
    config.ncu.timeout_s = 3
    source, result = verified[CONTROL]
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache, tool="ncu", config=config)
    assert report.ok, report.error
    assert report.fallback == "ncu timed out after 3 s" and report.tool == "torch.profiler"
    assert report.own_kernels() and report.wall_s < 120


def test_auto_on_the_cpu_never_runs_ncu(verified, cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(NCU_ENV, str(_fake_ncu(tmp_path, PERMISSION_NCU)))
    source, result = verified[CONTROL]
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache)
    assert report.ok and report.tool == "torch.profiler" and report.fallback is None
    assert report.overrides == SMALL  # the CPU-sized variant the verifier times at

    odd = {"batch_size": 7, "features": 33}
    sized = profile_candidate(TASK, source, result, device="cpu", cache=cache, tool="torch", overrides=odd)
    assert sized.ok and sized.overrides == odd


def test_ncu_output_becomes_kernel_rows_and_a_missing_metric_is_dropped(verified, cache, tmp_path, monkeypatch) -> None:
    shutil.copy(FIXTURES / "ncu_raw_softmax.csv", tmp_path)
    monkeypatch.setenv(NCU_ENV, str(_fake_ncu(tmp_path, WORKING_NCU)))
    source, result = verified[CONTROL]
    report = profile_candidate(TASK, source, result, device="cpu", cache=cache, tool="ncu")
    assert report.ok, (report.error, report.fallback, report.notes)
    assert report.tool == "ncu" and report.fallback is None
    assert any("left out: sm__inst_executed_pipe_tensor" in note for note in report.notes)
    rows = {row.name: row for row in report.kernels}
    # Every curated metric is reported or named as left out (ncu drops some silently on some GPUs).
    left_out = {m for note in report.notes if "left out" in note for m in note.split(": ", 1)[1].split(", ")}
    assert set(load_profiler_config().ncu.metrics) - left_out <= set(rows["softmax_kernel"].metrics)
    assert rows["softmax_kernel"].calls == 2 and rows["softmax_kernel"].total_us == pytest.approx(2100.768)
    assert not rows["softmax_kernel"].own  # a CPU candidate declares no __global__ kernel
    assert report.metric_units["gpu__time_duration.sum"] == "nsecond"
    assert report.profiled_calls == load_profiler_config().ncu.profiled_calls  # as the worker under "ncu" reported
    assert report.roofline is not None and report.roofline.time_source == "wall clock in the profile worker (under ncu)"


def test_a_changed_source_is_refused_not_profiled(verified, cache) -> None:
    source, result = verified[CONTROL]
    changed = source.replace("// ---- honest kernels", "// ---- honest kernels (edited)")
    assert changed != source
    before = _entries(cache)
    report = profile_candidate(TASK, changed, result, device="cpu", cache=cache)
    assert not report.ok and "different sources" in (report.error or "")
    assert _entries(cache) == before


def test_nothing_built_or_another_device_is_an_error_not_an_exception(verified, cache) -> None:
    source, result = verified[CONTROL]
    failed = result.model_copy(update={"verdict": "COMPILE_FAIL", "builds": []})
    report = profile_candidate(TASK, source, failed, device="cpu", cache=cache)
    assert not report.ok and report.error.startswith("nothing to profile")
    report = profile_candidate(TASK, source, result, device="cuda", cache=cache)
    assert not report.ok and "verified on cpu" in report.error


def test_a_lost_build_is_rebuilt_from_the_same_source_through_the_cache(verified, cache) -> None:
    source, result = verified[CONTROL]
    lost = result.model_copy(update={"builds": [{**row, "key": "0" * 64, "library": "/nonexistent/00/0/lib.so"}
                                                for row in result.builds]})
    before = _entries(cache)
    report = profile_candidate(TASK, source, lost, device="cpu", cache=cache)
    assert report.ok, report.error
    assert any("rebuilt from the same source" in note for note in report.notes)
    assert any("build key differs" in note for note in report.notes)  # the verification named another key
    assert _entries(cache) == before  # the same source is in the cache: served, not compiled
    assert [row.name for row in report.own_kernels()] == ["softmax_forward"]
