"""What a profile of one candidate says: its kernels (or ops), their metrics, and where it sits on the roofline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Tool = Literal["ncu", "torch.profiler"]


class KernelRow(BaseModel):
    """One kernel (CUDA) or op (CPU) seen while the candidate's forward() ran."""

    name: str
    own: bool  # defined in the candidate's sources (a `__global__` name, or one of its extension functions)
    calls: int = 0
    total_us: float = 0.0
    metrics: dict[str, float | str] = Field(default_factory=dict)  # ncu metric name -> value, as ncu reports it


class RooflinePosition(BaseModel):
    time_ms: float  # one forward() call
    flops: int
    bytes: int
    achieved_gflops: float
    achieved_gbs: float
    peak_gflops: float
    peak_gbs: float
    compute_fraction: float  # achieved / peak
    bandwidth_fraction: float
    bound: Literal["memory", "compute"]  # which roof the task's arithmetic intensity puts it under
    roof_fraction: float  # fraction of the roof that binds it: how close to the best possible this candidate is
    arithmetic_intensity: float | None = None  # FLOPs per byte of the task (None: no bytes counted)
    ridge_point: float | None = None  # FLOPs per byte where the two roofs meet on this device
    time_source: str | None = None  # where time_ms comes from ("verifier timing median", "ncu kernel durations", ...)
    roof_note: str | None = None  # how far to trust the peaks (CPU peaks are generous bounds, not targets)

    def line(self) -> str:
        if self.bound == "memory":
            line = (f"roofline: memory-bound, {_pct(self.roof_fraction)} of the bandwidth roof "
                    f"({_rate(self.achieved_gbs * 1e9, 'B/s')} of {_rate(self.peak_gbs * 1e9, 'B/s')})")
        else:
            line = (f"roofline: compute-bound, {_pct(self.roof_fraction)} of the compute roof "
                    f"({_rate(self.achieved_gflops * 1e9, 'FLOP/s')} of {_rate(self.peak_gflops * 1e9, 'FLOP/s')})")
        return f"{line}; {self.roof_note}" if self.roof_note else line


class ProfileReport(BaseModel):
    tool: Tool
    device: str
    ok: bool
    fallback: str | None = None  # why ncu was not used ("ncu not found", "no permission for GPU counters", ...)
    error: str | None = None
    kernels: list[KernelRow] = Field(default_factory=list)
    roofline: RooflinePosition | None = None
    wall_s: float = 0.0
    overrides: dict[str, int] = Field(default_factory=dict)  # the task sizes profiled ({}: nominal)
    profiled_calls: int = 0  # forward() calls the rows cover
    metric_units: dict[str, str] = Field(default_factory=dict)  # ncu metric name -> unit
    notes: list[str] = Field(default_factory=list)

    def own_kernels(self) -> list[KernelRow]:
        return [row for row in self.kernels if row.own]

    def highlights(self, limit: int = 8) -> list[str]:
        """Short lines for the Judge: why the fallback, where it sits on the roofline, the own kernels (their
        key metrics) and the largest library work, most important first."""
        lines = []
        if self.fallback:
            lines.append(f"profiled with torch.profiler because ncu: {self.fallback}")
        if not self.ok:
            lines.append(f"profiling failed: {self.error or 'no detail'}")
        if self.roofline is not None:
            lines.append(self.roofline.line())
        total = sum(row.total_us for row in self.kernels) or 1.0
        cpu = self.device == "cpu"
        for row in self.own_kernels():
            kind, unit = ("own function", "calls") if cpu else ("own kernel", "launches")
            parts = [f"{row.calls} {unit}", f"{_us(row.total_us)} total",
                     f"{_pct(row.total_us / total)} of the profiled time"]
            lines.append(f"{kind} {row.name}: " + ", ".join(parts + _metric_phrases(row.metrics)))
        library = [row for row in self.kernels if not row.own]
        if library:
            share = sum(row.total_us for row in library) / total
            top = ", ".join(f"{row.name} {_us(row.total_us)}" for row in library[:3])
            kind = "ops" if cpu else "kernels"
            lines.append(f"library {kind} (not the candidate's code): {_pct(share)} of the profiled time; "
                         f"largest: {top}")
        return lines[:limit]


_PCT_METRICS = (
    ("dram__throughput.avg.pct_of_peak_sustained_elapsed", "DRAM throughput {:.0f}% of peak"),
    ("sm__warps_active.avg.pct_of_peak_sustained_active", "achieved occupancy {:.0f}%"),
    ("sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_active", "tensor pipe {:.0f}% busy"),
    ("sm__inst_executed_pipe_fp32.avg.pct_of_peak_sustained_active", "FP32 pipe {:.0f}% busy"),
    ("l1tex__t_sector_hit_rate.pct", "L1 hit rate {:.0f}%"),
    ("lts__t_sector_hit_rate.pct", "L2 hit rate {:.0f}%"),
)
_STALLS = {
    "smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct": "memory dependency",
    "smsp__warp_issue_stalled_short_scoreboard_per_warp_active.pct": "short scoreboard (shared memory / MUFU)",
    "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct": "long scoreboard (global memory)",
    "smsp__warp_issue_stalled_barrier_per_warp_active.pct": "barrier (__syncthreads)",
    "smsp__warp_issue_stalled_branch_resolving_per_warp_active.pct": "branch resolving",
}


def _metric_phrases(metrics: dict[str, float | str]) -> list[str]:
    number = lambda name: v if isinstance(v := metrics.get(name), (int, float)) else None  # noqa: E731
    phrases = [template.format(value) for name, template in _PCT_METRICS
               if (value := number(name)) is not None and (value > 0 or "pipe" not in name)]
    registers = number("launch__registers_per_thread")
    if registers is not None:
        phrases.append(f"{registers:.0f} registers/thread")
    stalls = {label: value for name, label in _STALLS.items() if (value := number(name)) is not None}
    if stalls:
        label = max(stalls, key=stalls.__getitem__)
        phrases.append(f"top stall: {label} ({stalls[label]:.0f}% of active warps)")
    inside = number("library_inside_us")
    if inside:
        phrases.append(f"plus {_us(inside)} in library ops it calls")
    return phrases


def _pct(fraction: float) -> str:
    """64%, 0.3%, 0.0012%: small shares keep two significant digits instead of reading as 0%."""
    percent = fraction * 100
    return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.2g}%"


def _us(value: float) -> str:
    return f"{value / 1e3:.2f} ms" if value >= 1000 else f"{value:.1f} us"


def _rate(value: float, unit: str) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
