"""Where one measured forward() sits on the device's roofline."""

from __future__ import annotations

import math
from typing import Any

from ..verify.roofline import Work, peak_flops
from .models import RooflinePosition


def roofline_position(work: Work, sheet: dict[str, Any], time_ms: float, *, allow_tf32: bool = False,
                      time_source: str | None = None) -> RooflinePosition | None:
    """Achieved FLOP/s and bytes/s of one call against the sheet's peaks (the same peaks the timing floor uses).

    The task's arithmetic intensity (FLOPs over the minimum bytes) against the ridge point says which roof
    binds; `roof_fraction` is the achieved share of that roof (for a memory-bound task, of the bandwidth).
    None when the sheet knows no peaks or the time is not positive."""
    peak = peak_flops(sheet, work.dtype, allow_tf32)
    bandwidth_gbs = sheet.get("bandwidth_gbs")
    if peak is None or not bandwidth_gbs or not (time_ms > 0 and math.isfinite(time_ms)):
        return None
    seconds = time_ms / 1e3
    achieved_gflops = work.flops / seconds / 1e9
    achieved_gbs = work.bytes / seconds / 1e9
    peak_gflops, peak_gbs = peak / 1e9, float(bandwidth_gbs)
    intensity = work.flops / work.bytes if work.bytes else None
    ridge = peak_gflops / peak_gbs
    bound = "compute" if intensity is None or intensity >= ridge else "memory"
    compute_fraction, bandwidth_fraction = achieved_gflops / peak_gflops, achieved_gbs / peak_gbs
    return RooflinePosition(
        time_ms=time_ms, flops=work.flops, bytes=work.bytes, achieved_gflops=achieved_gflops,
        achieved_gbs=achieved_gbs, peak_gflops=peak_gflops, peak_gbs=peak_gbs, compute_fraction=compute_fraction,
        bandwidth_fraction=bandwidth_fraction, bound=bound,
        roof_fraction=compute_fraction if bound == "compute" else bandwidth_fraction,
        arithmetic_intensity=intensity, ridge_point=ridge, time_source=time_source,
    )
