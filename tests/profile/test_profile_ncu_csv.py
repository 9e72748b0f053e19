"""Reading Nsight Compute's CSV, building its command line, and telling its failures apart (no GPU needed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kernelwright.profile.config import load_profiler_config
from kernelwright.profile.ncu import (NCU_ENV, error_line, find_ncu, kernel_regex, kernel_rows, missing_metrics,
                                      ncu_argv, parse_ncu_csv, permission_denied)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RAW = (FIXTURES / "ncu_raw_softmax.csv").read_text()
SETTINGS = load_profiler_config().ncu


def test_raw_page_parses_every_launch_with_units() -> None:
    table = parse_ncu_csv(RAW)
    assert [launch.kernel for launch in table.launches] == ["softmax_kernel", "elementwise_kernel", "softmax_kernel"]
    first = table.launches[0].metrics
    assert set(first) == set(SETTINGS.metrics)  # the NVTX and identity columns are not metrics
    assert first["gpu__time_duration.sum"] == 1_051_968.0  # thousands separators read
    assert first["dram__bytes_read.sum"] == 2_147_614_720.0
    assert first["smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct"] == "n/a"
    assert table.units["gpu__time_duration.sum"] == "nsecond"
    assert table.units["dram__bytes.sum.per_second"] == "byte/second"


def test_repeated_launches_merge_into_one_row_per_kernel() -> None:
    rows = kernel_rows(parse_ncu_csv(RAW), own_kernels=["softmax_kernel"])
    assert [(r.name, r.own, r.calls) for r in rows] == [("softmax_kernel", True, 2), ("elementwise_kernel", False, 1)]
    own = rows[0]
    assert own.total_us == pytest.approx((1_051_968 + 1_048_800) / 1e3)
    # per-launch values, weighted by each launch's duration
    expected = (91.36 * 1_051_968 + 91.64 * 1_048_800) / (1_051_968 + 1_048_800)
    assert own.metrics["dram__throughput.avg.pct_of_peak_sustained_elapsed"] == pytest.approx(expected)
    assert own.metrics["launch__registers_per_thread"] == pytest.approx(28.0)
    assert own.metrics["smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct"] == "n/a"
    assert rows[1].total_us == pytest.approx(17.536)


def test_details_page_long_form_is_read_too() -> None:
    launch = ('"{}","7","python3","h","my_kernel","1","7","(128, 1, 1)","(64, 1, 1)","0","9.0",'
              '"Command line profiler metrics",')
    text = "\n".join([
        "==PROF== Connected to process 7 (/usr/bin/python3)",
        '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
        '"Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"',
        launch.format(0) + '"gpu__time_duration.sum","usecond","12.50"',
        launch.format(0) + '"launch__registers_per_thread","register/thread","40"',
        launch.format(1) + '"gpu__time_duration.sum","usecond","7.50"',
    ])
    table = parse_ncu_csv(text)
    assert len(table.launches) == 2 and table.units["gpu__time_duration.sum"] == "usecond"
    (row,) = kernel_rows(table, ["my_kernel"])
    assert row.own and row.calls == 2 and row.total_us == pytest.approx(20.0)


def test_no_table_and_failures_are_recognised() -> None:
    assert parse_ncu_csv("==WARNING== No kernels were profiled.\n").launches == []
    assert parse_ncu_csv("").launches == []
    denied = ("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance "
              "Counters on the target device 0.")
    assert permission_denied(denied) and not permission_denied(RAW)
    missing = "==ERROR== Failed to find metric sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_active\n"
    assert missing_metrics(missing) == ["sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_active"]
    assert error_line("==PROF== Connected\n==ERROR== something broke\nlast") == "something broke"
    assert error_line("only line") == "only line"


def test_command_line_carries_the_curated_metrics_and_filters(tmp_path: Path) -> None:
    worker = ["python", "-m", "kernelwright.workers.profiling", "/job"]
    argv = ncu_argv("/opt/ncu", SETTINGS, SETTINGS.metrics, ["softmax_kernel"], tmp_path / "ncu.log", worker)
    assert argv[0] == "/opt/ncu" and argv[-4:] == worker
    metrics = argv[argv.index("--metrics") + 1].split(",")
    assert len(metrics) == 25 and "gpu__time_duration.sum" in metrics
    assert {"--csv", "--nvtx"} <= set(argv) and argv[argv.index("--page") + 1] == "raw"
    assert argv[argv.index("--nvtx-include") + 1] == "kw_profile/"
    assert argv[argv.index("--launch-count") + 1] == str(SETTINGS.launch_count)
    assert argv[argv.index("--log-file") + 1] == str(tmp_path / "ncu.log")
    assert argv[argv.index("--kernel-name") + 1] == kernel_regex(["softmax_kernel"])
    # no own kernel names: no kernel filter (every kernel in the NVTX range)
    assert "--kernel-name" not in ncu_argv("/opt/ncu", SETTINGS, SETTINGS.metrics, [], tmp_path / "l", worker)


def test_kernel_regex_matches_plain_namespaced_and_template_names() -> None:
    import re

    pattern = re.compile(kernel_regex(["softmax_kernel", "gemm"]).removeprefix("regex:"))
    for name in ("softmax_kernel", "ns::softmax_kernel", "gemm<float, 128>", "gemm(float const*, int)"):
        assert pattern.match(name), name
    for name in ("softmax_kernel_v2", "my_gemm", "elementwise_kernel"):
        assert not pattern.match(name), name


def test_find_ncu_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NCU_ENV, str(tmp_path / "absent"))
    path, why = find_ncu(SETTINGS)
    assert path is None and "absent" in why
    fake = tmp_path / "ncu"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(NCU_ENV, str(fake))
    assert find_ncu(SETTINGS) == (str(fake), f"${NCU_ENV}")
    monkeypatch.delenv(NCU_ENV)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ncu(SETTINGS)[0] == os.path.join(str(tmp_path), "ncu")
