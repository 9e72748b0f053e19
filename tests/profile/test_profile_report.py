"""The report's roofline position, its highlight lines for the Judge, its store row and the hardware sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelwright.profile import ProfileReport, hardware_facts, known_gpus, profile_record
from kernelwright.profile.hardware import vector_isa
from kernelwright.profile.ncu import kernel_rows, parse_ncu_csv
from kernelwright.profile.position import roofline_position
from kernelwright.verify.roofline import Work, gpu_sheet

RAW = (Path(__file__).resolve().parent / "fixtures" / "ncu_raw_softmax.csv").read_text()
H100 = gpu_sheet("NVIDIA H100 80GB HBM3")


def test_memory_bound_task_is_measured_against_the_bandwidth_roof() -> None:
    work = Work(flops=0, input_bytes=2**30, output_bytes=2**30, param_bytes=0)  # softmax 16384^2 fp32
    position = roofline_position(work, H100, 1.0, time_source="test")
    assert position is not None and position.bound == "memory"
    assert position.achieved_gbs == pytest.approx(2**31 / 1e-3 / 1e9)
    assert position.roof_fraction == position.bandwidth_fraction == pytest.approx(2147.483648 / 3350)
    assert position.compute_fraction == 0 and position.arithmetic_intensity == 0
    assert position.time_source == "test"


def test_compute_bound_task_is_measured_against_the_compute_roof() -> None:
    n = 4096
    work = Work(flops=2 * n**3, input_bytes=2 * n * n * 2, output_bytes=n * n * 2, param_bytes=0, dtype="bfloat16")
    position = roofline_position(work, H100, 0.25)
    assert position is not None and position.bound == "compute"
    assert position.arithmetic_intensity > position.ridge_point
    assert position.achieved_gflops == pytest.approx(2 * n**3 / 0.25e-3 / 1e9)
    assert position.roof_fraction == position.compute_fraction == pytest.approx(position.achieved_gflops / 989_400)
    assert 0 < position.roof_fraction < 1


def test_no_position_without_peaks_or_time() -> None:
    work = Work(flops=10, input_bytes=10, output_bytes=10, param_bytes=0)
    assert roofline_position(work, gpu_sheet("Mystery GPU 9000"), 1.0) is None
    assert roofline_position(work, H100, 0.0) is None


def test_highlights_name_the_own_kernels_metrics_the_roof_and_the_library() -> None:
    work = Work(flops=0, input_bytes=2**30, output_bytes=2**30, param_bytes=0)
    report = ProfileReport(tool="ncu", device="cuda", ok=True, profiled_calls=2,
                           kernels=kernel_rows(parse_ncu_csv(RAW), ["softmax_kernel"]),
                           roofline=roofline_position(work, H100, 1.05))
    lines = report.highlights()
    assert lines[0].startswith("roofline: memory-bound, 61% of the bandwidth roof")
    own = next(line for line in lines if line.startswith("own kernel softmax_kernel"))
    assert "2 launches" in own and "2.10 ms total" in own and "DRAM throughput 91% of peak" in own
    assert "28 registers/thread" in own and "top stall: long scoreboard" in own and "achieved occupancy 84%" in own
    assert any(line.startswith("library kernels") and "elementwise_kernel" in line for line in lines)
    assert len(report.highlights(limit=1)) == 1


def test_highlights_say_why_the_fallback_and_what_failed() -> None:
    report = ProfileReport(tool="torch.profiler", device="cuda", ok=False, fallback="ncu not found", error="boom")
    assert report.highlights() == ["profiled with torch.profiler because ncu: ncu not found", "profiling failed: boom"]


def test_store_record_keeps_tool_fallback_and_the_whole_report() -> None:
    report = ProfileReport(tool="torch.profiler", device="cpu", ok=True, fallback="ncu not found",
                           kernels=kernel_rows(parse_ncu_csv(RAW), ["softmax_kernel"]))
    record = profile_record(report, "cand-1")
    assert record.candidate_id == "cand-1" and record.tool == "torch.profiler" and record.fallback == "ncu not found"
    assert ProfileReport.model_validate(record.metrics) == report
    assert record.raw and "softmax_kernel" in record.raw


def test_cpu_hardware_facts_describe_this_machine() -> None:
    facts = hardware_facts("cpu")
    assert facts["device"] == "cpu" and facts["cores"] >= 1
    assert facts["vector_isa"] in ("AVX-512", "AVX2", "AVX", "NEON", "SVE", "SSE2")
    assert facts["bandwidth_gbs"] > 0 and facts["peak_tflops"]["float32"] > 0
    assert vector_isa({"avx2", "fma"}) == ("AVX2", 256) and vector_isa({"avx512f", "avx2"}) == ("AVX-512", 512)


def test_the_roofline_and_the_prompt_see_one_arm_cpu(monkeypatch) -> None:
    """One detector: an Arm CPU's `Features` (SVE, NEON) set the roofline's vector width and the prompt's ISA alike."""
    from kernelwright.profile import hardware
    from kernelwright.verify import roofline

    monkeypatch.setattr(roofline, "cpu_flags", lambda: {"fp", "asimd", "sve", "bf16"})
    monkeypatch.setattr(hardware, "cpu_flags", roofline.cpu_flags)
    sheet, facts = roofline.cpu_sheet(), hardware_facts("cpu")
    assert (sheet["isa"], sheet["vector_width_bits"]) == ("SVE", 128)
    assert (facts["vector_isa"], facts["vector_width_bits"]) == ("SVE", 128)
    assert facts["vector_extensions"] == ["asimd", "sve", "bf16"]


def test_gpu_facts_carry_the_known_gpu_table() -> None:
    facts = hardware_facts("cuda")
    assert facts["device"] == "cuda" and facts["warp_size"] == 32 and facts["max_threads_per_block"] == 1024
    table = {row["key"]: row for row in facts["known_gpus"]}
    assert table["h100_sxm"]["bandwidth_gbs"] == 3350 and "match" not in table["h100_sxm"]
    assert known_gpus() == facts["known_gpus"]
