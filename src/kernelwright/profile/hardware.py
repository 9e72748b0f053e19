"""The hardware sheet for prompts: plain facts about the device a candidate runs on, ready for a template."""

from __future__ import annotations

import platform
from typing import Any

from ..verify.roofline import cpu_flags, hardware_sheet, load_hardware, read_int, vector_isa

# Fixed by the CUDA programming model on every GPU the table lists (compute capability 7.0 and later).
CUDA_CONSTANTS = {"warp_size": 32, "max_threads_per_block": 1024, "max_registers_per_thread": 255}
_EXTENSIONS = ("fma", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "avx512_vnni",
               "amx_bf16", "amx_fp16", "amx_int8", "asimd", "sve", "sve2", "bf16", "i8mm")


def hardware_facts(device: str) -> dict[str, Any]:
    """What the agents may know about the device: for CUDA the GPU's sizes, peaks and the table of known GPUs;
    for the CPU its model, cores, vector ISA, clock, caches and (generous) peaks. Values absent here are unknown."""
    if device.startswith("cuda"):
        return _gpu_facts()
    return _cpu_facts()


def known_gpus() -> list[dict[str, Any]]:
    """sandbox/hardware.toml's GPU table as rows (datasheet peaks, dense)."""
    return [{"key": key, **{k: v for k, v in entry.items() if k != "match"}}
            for key, entry in load_hardware().get("gpu", {}).items()]


def _gpu_facts() -> dict[str, Any]:
    sheet = hardware_sheet("cuda")
    facts: dict[str, Any] = {
        "device": "cuda",
        "name": sheet.get("name"),
        "datasheet_name": sheet.get("datasheet_name"),
        "compute_capability": sheet.get("compute_capability"),
        "sm_count": sheet.get("sm_count"),
        "smem_per_sm_kib": _scaled(sheet.get("smem_per_sm_bytes"), 1024),
        "smem_per_block_optin_kib": _scaled(sheet.get("smem_per_block_optin_bytes"), 1024),
        "registers_per_sm": sheet.get("registers_per_sm"),
        "max_threads_per_sm": sheet.get("max_threads_per_sm"),
        "l2_mib": _scaled(sheet.get("l2_bytes"), 2**20),
        "memory_gib": _scaled(sheet.get("memory_bytes"), 2**30),
        "clock_mhz": sheet.get("clock_mhz"),
        "bandwidth_gbs": sheet.get("bandwidth_gbs"),
        "peak_tflops": sheet.get("peak_tflops"),
        **CUDA_CONSTANTS,
        "known_gpus": known_gpus(),
        "note": sheet.get("note") or "datasheet peaks (dense, boost clock); sizes as the device reports them",
    }
    if sheet.get("warp_size"):
        facts["warp_size"] = sheet["warp_size"]
    return facts


def _cpu_facts() -> dict[str, Any]:
    sheet = hardware_sheet("cpu")
    flags = cpu_flags()
    isa, width = vector_isa(flags)
    max_khz = read_int("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "device": "cpu",
        "name": sheet.get("name") or platform.processor() or None,
        "machine": platform.machine(),
        "cores": sheet.get("cores"),
        "vector_isa": isa,
        "vector_width_bits": width,
        "vector_extensions": [name for name in _EXTENSIONS if name in flags],
        "amx": bool(sheet.get("amx")),
        "max_clock_ghz": round(max_khz / 1e6, 3) if max_khz else None,
        "caches": sheet.get("caches") or {},
        "bandwidth_gbs": sheet.get("bandwidth_gbs"),
        "peak_tflops": sheet.get("peak_tflops"),
        "note": sheet.get("note"),
    }


def _scaled(value: Any, unit: int) -> float | None:
    return round(value / unit, 1) if isinstance(value, (int, float)) and value else None
