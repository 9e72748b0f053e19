"""Roofline floor of a task and the hardware sheet: what the fastest possible kernel could do.

- `count_work(task, overrides)`: FLOPs of the reference forward (torch's FlopCounterMode, on the meta device,
  so nothing is allocated) and the minimum bytes any implementation must move: every input and parameter
  read once, every output written once, in the task's dtype.
- `hardware_sheet(device)`: peaks from `sandbox/hardware.toml` (GPU: matched by device name, with the values
  the device reports; CPU: computed generously from cores x clock x SIMD width).
- `count_effective_flops(model, inputs)`: the same count on real tensors, each op weighted by the nonzero
  fraction of its operands (`torch.diag(a) @ b` is not 2*n*n*m of work for a good kernel).
- `roofline_floor(work, sheet, dtype, ...)`: max(effective FLOPs / peak FLOP/s / slack, bytes / bandwidth).
  A measured time below 0.9x of it is impossible and means the measurement was fooled.

The floor is a sanity bound, not a target: FlopCounterMode counts only matmul/conv/attention-like ops
(elementwise work counts 0), the peaks are datasheet maxima, and the FLOP term is halved again for causal or
triangular structure an honest kernel may skip. All of this makes the floor lower, never higher, so an
honest kernel cannot trip it. Margin and slack are data in `sandbox/hardware.toml` ([floor]).
"""

from __future__ import annotations

import functools
import math
import os
import platform
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..resources import data_dir

FLOOR_MARGIN = 0.9  # a median below FLOOR_MARGIN x floor is PERF_INVALID (hardware.toml [floor] may override)
FLOP_SLACK = 2.0  # the compute floor is effective FLOPs / peak / FLOP_SLACK: causal or triangular structure
                  # lets an honest kernel skip half of what the reference computes
_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


class Work(BaseModel):
    """What one forward call of the reference must do at least, at one set of sizes.

    `flops` is what FlopCounterMode counts for the reference as written. `effective_flops` (when known: it
    needs real tensors, see `count_effective_flops`) scales each counted op by the density of its operands,
    so a product with a structurally sparse matrix (`torch.diag(a) @ b`) is not counted as dense work that a
    good kernel would simply skip. The compute floor uses `effective_flops`, never the raw count."""

    flops: int
    effective_flops: int | None = None
    input_bytes: int
    output_bytes: int
    param_bytes: int
    flops_by_op: dict[str, int] = Field(default_factory=dict)
    dtype: str = "float32"
    note: str | None = None

    @property
    def bytes(self) -> int:
        return self.input_bytes + self.output_bytes + self.param_bytes


class Floor(BaseModel):
    floor_s: float
    compute_s: float
    memory_s: float
    peak_flops: float | None
    bandwidth_bytes_s: float | None
    bytes_counted: int
    bound: Literal["compute", "memory", "none"]
    note: str | None = None


# ---------------------------------------------------------------------------------------------- counting


def count_work(task: Any, overrides: dict[str, int] | None = None, dtype: str | None = None) -> Work:
    """FLOPs and minimum bytes of the task's forward at these sizes (meta device, nothing allocated)."""
    import torch
    from torch.utils._pytree import tree_leaves
    from torch.utils.flop_counter import FlopCounterMode

    from ..tasks.execution import MetaDeviceMode, execute_module, quiet, time_limit
    from ..tasks.source import parse_task_source, with_constants

    target_name = dtype or task.declarations.dtype
    target = getattr(torch, target_name)
    tree = with_constants(parse_task_source(task.source, task.path).tree, overrides or {})
    with quiet(), time_limit(60.0):
        module = execute_module(compile(tree, task.path, "exec"), task.path)
        with MetaDeviceMode():
            init_inputs = list(module.get_init_inputs())
            model = module.Model(*init_inputs).to(dtype=target).eval()
            inputs = [_cast(v, target) for v in module.get_inputs()]
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                out = model(*inputs)
    outputs = [v for v in tree_leaves(out) if isinstance(v, torch.Tensor)]
    by_op = {str(op).removeprefix("aten."): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return Work(
        flops=int(counter.get_total_flops()),
        input_bytes=sum(_nbytes(v) for v in tree_leaves(inputs) if isinstance(v, torch.Tensor)),
        output_bytes=sum(_nbytes(v) for v in outputs),
        param_bytes=sum(_nbytes(p) for p in model.parameters()) + sum(_nbytes(b) for b in model.buffers()),
        flops_by_op=by_op,
        dtype=target_name,
    )


def count_effective_flops(model: Any, inputs: list[Any]) -> tuple[int, int]:
    """(raw, effective) FLOPs of one real forward: each op FlopCounterMode knows is weighted by the product of
    the nonzero fractions of its floating-point tensor operands. Runs the model once for real (trusted code)."""
    import torch
    from torch.utils._pytree import tree_leaves
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    totals = {"raw": 0.0, "effective": 0.0}

    def weighted(formula: Any) -> Any:
        def count(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
            flops = formula(*args, out_val=out_val, **kwargs)
            density = 1.0
            for value in tree_leaves((args, kwargs)):
                if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel() > 1:
                    density *= float(torch.count_nonzero(value)) / value.numel()
            totals["raw"] += flops
            totals["effective"] += flops * density
            return flops

        count._get_raw = True  # type: ignore[attr-defined]  # FlopCounterMode: pass tensors, not shapes
        return count

    counter = FlopCounterMode(display=False, custom_mapping={op: weighted(f) for op, f in flop_registry.items()})
    with torch.no_grad(), counter:
        model(*inputs)
    return int(totals["raw"]), int(totals["effective"])


def _cast(value: Any, dtype: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype=dtype)
    return value


def _nbytes(tensor: Any) -> int:
    return int(tensor.numel()) * int(tensor.element_size())


# ---------------------------------------------------------------------------------------------- hardware


@functools.lru_cache
def load_hardware(path: Path | None = None) -> dict[str, Any]:
    target = path or data_dir("sandbox") / "hardware.toml"
    return tomllib.loads(Path(target).read_text())


def gpu_entry(device_name: str, table: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]] | None:
    """The table entry whose longest `match` substring occurs in the device name (case-insensitive)."""
    table = table or load_hardware()
    best: tuple[int, str, dict[str, Any]] | None = None
    lowered = device_name.lower()
    for key, entry in table.get("gpu", {}).items():
        for pattern in entry.get("match", []):
            if pattern.lower() in lowered and (best is None or len(pattern) > best[0]):
                best = (len(pattern), key, entry)
    return None if best is None else (best[1], best[2])


def gpu_sheet(device_name: str, queried: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GPU's sheet from the table, with what the device reports (`queried`) taking precedence."""
    table = load_hardware()
    found = gpu_entry(device_name, table)
    queried = {k: v for k, v in (queried or {}).items() if v is not None}
    sheet: dict[str, Any] = {"device": "cuda", "name": device_name, "matched": found[0] if found else None}
    if found is None:
        sheet["note"] = "GPU not in sandbox/hardware.toml: no peaks known, so no roofline floor"
    else:
        entry = found[1]
        sheet.update(
            datasheet_name=entry.get("name"),
            bandwidth_gbs=entry["bandwidth_gbs"],
            peak_tflops={"float32": entry["fp32_tflops"], "tf32": entry["tf32_tflops"],
                         "float16": entry["fp16_tflops"], "bfloat16": entry["bf16_tflops"],
                         "float64": entry["fp64_tflops"]},
            sm_count=entry.get("sm_count"), l2_bytes=int(entry.get("l2_mib", 0) * 2**20) or None,
            smem_per_sm_bytes=int(entry.get("smem_per_sm_kib", 0) * 1024) or None,
            registers_per_sm=entry.get("registers_per_sm"), compute_capability=entry.get("compute_capability"),
        )
    sheet["l2_bandwidth_factor"] = table.get("gpu_defaults", {}).get("l2_bandwidth_factor", 4.0)
    sheet.update(queried)
    return sheet


def hardware_sheet(device: str) -> dict[str, Any]:
    """What the agents may know about the machine: peaks, caches, sizes. Plain JSON-able values."""
    if device.startswith("cuda"):
        return _cuda_sheet()
    return cpu_sheet()


def _cuda_sheet() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"device": "cuda", "name": None, "matched": None, "note": "no CUDA device visible"}
    props = torch.cuda.get_device_properties(0)
    queried = {
        "sm_count": getattr(props, "multi_processor_count", None),
        "l2_bytes": getattr(props, "L2_cache_size", None) or None,
        "smem_per_sm_bytes": getattr(props, "shared_memory_per_multiprocessor", None) or None,
        "smem_per_block_optin_bytes": getattr(props, "shared_memory_per_block_optin", None) or None,
        "registers_per_sm": getattr(props, "regs_per_multiprocessor", None) or None,
        "memory_bytes": getattr(props, "total_memory", None),
        "compute_capability": f"{props.major}.{props.minor}",
        "warp_size": getattr(props, "warp_size", None),
        "max_threads_per_sm": getattr(props, "max_threads_per_multi_processor", None),
        "clock_mhz": (getattr(props, "clock_rate", 0) or 0) / 1000 or None,
    }
    return gpu_sheet(torch.cuda.get_device_name(0), queried)


def cpu_sheet() -> dict[str, Any]:
    """Generous CPU peaks from cores x clock x vector width (see the [cpu] table for the assumptions)."""
    assumptions = load_hardware().get("cpu", {})
    flags, model = cpu_flags(), cpu_model()
    isa, width = vector_isa(flags)
    width = width or 128
    cores = os.cpu_count() or 1
    ghz = float(assumptions.get("assumed_ghz", 5.0))
    max_khz = read_int("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_khz and max_khz / 1e6 > ghz:
        ghz = max_khz / 1e6
    fp32 = cores * ghz * 1e9 * assumptions.get("fma_units", 2) * 2 * (width / 32)
    amx = bool({"amx_bf16", "amx_fp16"} & flags)
    low = fp32 * (assumptions.get("amx_factor", 16.0) if amx else assumptions.get("low_precision_factor", 2.0))
    bandwidth = cores * ghz * 1e9 * assumptions.get("bytes_per_cycle_per_core", 256)
    return {
        "device": "cpu", "name": model, "cores": cores, "vector_width_bits": width, "isa": isa or "scalar", "amx": amx,
        "assumed_ghz": ghz, "caches": _cpu_caches(),
        "bandwidth_gbs": bandwidth / 1e9,
        "peak_tflops": {"float32": fp32 / 1e12, "tf32": fp32 / 1e12, "float16": low / 1e12, "bfloat16": low / 1e12,
                        "float64": fp32 / 2e12},
        "note": "generous upper bounds (assumed clock, every core, L1-cache bandwidth); not achievable rates",
    }


# Widest first: (flag in /proc/cpuinfo, name, vector width in bits). x86 lists `flags`, Arm `Features`.
VECTOR_ISAS = (("avx512f", "AVX-512", 512), ("avx2", "AVX2", 256), ("avx", "AVX", 256), ("sve", "SVE", 128),
               ("asimd", "NEON", 128), ("sse2", "SSE2", 128))


def cpu_flags() -> set[str]:
    """The CPU's feature flags (x86 `flags`, Arm `Features`) from /proc/cpuinfo; empty where unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key = line.split(":", 1)[0].strip().lower()
                if key in ("flags", "features") and ":" in line:
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def vector_isa(flags: set[str]) -> tuple[str | None, int | None]:
    """The widest SIMD extension and its width in bits (NEON on 64-bit Arm even when flags are unreadable)."""
    for flag, label, width in VECTOR_ISAS:
        if flag in flags:
            return label, width
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "NEON", 128
    return None, None


def cpu_model() -> str | None:
    """The CPU's model name (x86 `model name`; Arm kernels often list none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.split(":", 1)[0].strip().lower() in ("model name", "hardware") and ":" in line:
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def _cpu_caches() -> dict[str, str]:
    caches: dict[str, str] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        name = f"L{level}" + ({"Data": "d", "Instruction": "i"}.get(kind, ""))
        caches[name] = size
    return caches


def read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- floor


def peak_flops(sheet: dict[str, Any], dtype: str, allow_tf32: bool = False) -> float | None:
    """FLOP/s an honest kernel of this dtype could reach at most. float32 without TF32 still gets half the
    TF32 tensor peak: split-TF32 emulation (3 TF32 products) computes float32-accurate matmuls on tensor cores."""
    peaks = sheet.get("peak_tflops")
    if not peaks:
        return None
    if dtype == "float32":
        best = peaks["tf32"] if allow_tf32 else max(peaks["float32"], peaks["tf32"] / 2)
    else:
        best = peaks.get(dtype, peaks["float32"])
    return float(best) * 1e12


def roofline_floor(work: Work, sheet: dict[str, Any], *, dtype: str | None = None, allow_tf32: bool = False,
                   method: str = "cuda_events") -> Floor:
    """The least time one call can take: max(bytes / bandwidth, effective FLOPs / peak / slack).

    `method` says how it was timed: with an L2 flush before every call (cuda_events), outputs up to the L2
    size may stay in L2 uncommitted; with CUDA-graph replay (no flush between calls) a working set that fits
    in L2 is read at L2 speed; on the CPU every byte counts at the (cache-level) bandwidth of the sheet."""
    dtype = dtype or work.dtype
    peak = peak_flops(sheet, dtype, allow_tf32)
    bandwidth = float(sheet["bandwidth_gbs"]) * 1e9 if sheet.get("bandwidth_gbs") else None
    if peak is None or bandwidth is None:
        return Floor(floor_s=0.0, compute_s=0.0, memory_s=0.0, peak_flops=peak, bandwidth_bytes_s=bandwidth,
                     bytes_counted=0, bound="none", note=sheet.get("note") or "no peaks known for this device")
    counted, note = work.bytes, None
    if sheet.get("device") == "cuda":
        l2 = int(sheet.get("l2_bytes") or 0)
        if method == "cuda_graph" and work.bytes <= l2:
            bandwidth *= float(sheet.get("l2_bandwidth_factor", 4.0))
            note = "working set fits in L2 and graph replay does not flush it: L2 bandwidth assumed"
        elif l2:
            counted = work.input_bytes + work.param_bytes + max(0, work.output_bytes - l2)
            if counted != work.bytes:
                note = "outputs up to the L2 size may stay in L2 within the timed call: not counted"
    floor_table = load_hardware().get("floor", {})
    slack = float(floor_table.get("flop_slack", FLOP_SLACK))
    if work.effective_flops is None:
        compute_s = 0.0
        note = "; ".join(filter(None, [note, "effective FLOPs unknown: memory floor only"])) if work.flops else note
    else:
        compute_s = work.effective_flops / peak / slack
    memory_s = counted / bandwidth
    bound: Literal["compute", "memory"] = "compute" if compute_s >= memory_s else "memory"
    return Floor(floor_s=max(compute_s, memory_s), compute_s=compute_s, memory_s=memory_s, peak_flops=peak,
                 bandwidth_bytes_s=bandwidth, bytes_counted=counted, bound=bound, note=note)


def floor_margin() -> float:
    return float(load_hardware().get("floor", {}).get("margin", FLOOR_MARGIN))


def below_floor(median_s: float, floor: Floor, margin: float | None = None) -> bool:
    """True when a measured per-call time is impossible on this hardware."""
    margin = floor_margin() if margin is None else margin
    return floor.floor_s > 0 and math.isfinite(median_s) and median_s < floor.floor_s * margin
