"""Which work in one forward() is the candidate's own: torch.profiler over a call, inside the worker.

CPU: time inside the candidate's extension functions, less the ATen compute they call into, over that plus
the ATen compute forward() runs itself. CUDA: device time of kernels the candidate's sources define (`__global__` names), over all kernels.
The numbers are evidence computed in the candidate's process; the orchestrator only applies policy to them.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Callable
from typing import Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function

OWN_PREFIX = "kw_own::"
CALL = "kw_forward"
EMPTY = "kw_empty_range"
MEASURED_CALLS = 5
CALIBRATION_RANGES = 25
GLOBAL_NAME = re.compile(r"__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(?:static\s+)?void\s+(\w+)")
# Allocation, views and copies a wrapper legitimately performs; everything else from ATen is library compute.
GLUE = re.compile(r"^aten::(empty|empty_like|empty_strided|zeros|zeros_like|ones|ones_like|full|full_like|"
                  r"view|reshape|_reshape_alias|_unsafe_view|as_strided|contiguous|clone|copy_|to|_to_copy|"
                  r"detach|alias|resize_|size|stride|numel|select|slice|t|transpose|permute|expand|unsqueeze|"
                  r"squeeze|flatten|item|_local_scalar_dense|lift_fresh|set_|fill_|zero_)$")


def kernel_names(cuda_sources: list[str]) -> list[str]:
    return sorted({name for source in cuda_sources for name in GLOBAL_NAME.findall(source)})


def attribute(call: Callable[[], Any], device: str, own_kernels: list[str]) -> dict[str, Any]:
    """Profiles one call and says how much of it the candidate's own code did."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        call()  # the profiler's own first-call set-up lands here, outside the measured ranges
        if device.startswith("cuda"):
            torch.cuda.synchronize()  # its kernels end before the first measured range starts
        for _ in range(CALIBRATION_RANGES):
            with record_function(EMPTY):
                pass
        for _ in range(MEASURED_CALLS):
            with record_function(CALL):
                call()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
    events = list(prof.events())
    # A named range costs tens of microseconds under the profiler; a token call into the extension must not
    # count that cost as the candidate's work, so each own range is charged net of an empty range's median.
    range_cost = statistics.median([e.cpu_time_total for e in events if e.name == EMPTY] or [0.0])
    if device.startswith("cuda"):
        shares = [_device_share(kernels, own_kernels) for kernels in _kernels_per_call(events)]
        if not any(share["total_us"] for share in shares):
            return {"error": "the profiler recorded no GPU kernel in the measured calls (is CUPTI usable here?)",
                    "device_events": sum(1 for e in events if _on_device(e))}
    else:
        shares = [_cpu_share(part, range_cost) for part in _measured(events)]
    # The median call: a descheduled moment can push one call's share either way.
    ranked = sorted(shares, key=lambda share: share["own_share"])
    typical = ranked[len(ranked) // 2]
    return {**typical, "calls": len(shares), "range_cost_us": round(range_cost, 3),
            "own_shares": [round(share["own_share"], 4) for share in shares]}


def _cpu_share(events: list[Any], range_cost: float = 0.0) -> dict[str, Any]:
    own_us, library_inside_us, library_outside_us = 0.0, 0.0, 0.0
    library: dict[str, float] = {}
    for event in events:
        if event.name.startswith(OWN_PREFIX):
            own_us += max(0.0, event.cpu_time_total - range_cost)
            for child in event.cpu_children:
                if child.name.startswith("aten::") and not GLUE.match(child.name):
                    library_inside_us += child.cpu_time_total
                    library[child.name] = library.get(child.name, 0.0) + child.cpu_time_total
        elif _top_level(event) and event.name.startswith("aten::") and not GLUE.match(event.name):
            library_outside_us += event.cpu_time_total
            library[event.name] = library.get(event.name, 0.0) + event.cpu_time_total
    # Python glue between the calls belongs to neither side: only measured work is shared out.
    total = max(own_us + library_outside_us, 1e-9)
    return {
        "method": "torch.profiler (cpu)",
        "own_share": max(0.0, min(1.0, (own_us - library_inside_us) / total)),
        "own_us": own_us - library_inside_us,
        "library_us": library_inside_us + library_outside_us,
        "library_ops": dict(sorted(library.items(), key=lambda item: -item[1])[:8]),
    }


def _measured(events: list[Any], range_name: str = CALL) -> list[list[Any]]:
    """The events of each measured call: its range and everything nested in it."""
    ranges = [e for e in events if e.name == range_name]
    return [[e for e in events if r.time_range.start <= e.time_range.start and e.time_range.end <= r.time_range.end]
            for r in ranges] or [events]


def _top_level(event: Any) -> bool:
    """Directly inside the profiled call (not nested in another op, ours or ATen's)."""
    parent = event.cpu_parent
    return parent is not None and parent.name == CALL


def _on_device(event: Any) -> bool:
    return getattr(event, "device_type", None) == DeviceType.CUDA


def kernel_launches(events: list[Any], range_name: str = CALL) -> list[list[tuple[str, float]]]:
    """The kernel launches (name, device microseconds) of each measured call, a `range_name` range. Kernels are
    linked to the op that launched them where the profiler made that link; otherwise, from the GPU's own records,
    a kernel belongs to the call whose range started last before it did (each call ends in a device-wide sync,
    so no kernel of one call runs in the next)."""
    ranges = sorted((e for e in events if e.name == range_name), key=lambda e: e.time_range.start)
    linked = [[(kernel.name, float(kernel.duration)) for event in part for kernel in getattr(event, "kernels", []) or []]
              for part in _measured(events, range_name)] if ranges else []
    if any(linked):
        return linked
    windows: list[list[tuple[str, float]]] = [[] for _ in ranges]
    starts = [r.time_range.start for r in ranges]
    for event in events:
        index = bisect.bisect_right(starts, event.time_range.start) - 1 if _on_device(event) else -1
        if index >= 0:
            windows[index].append((event.name, float(event.time_range.elapsed_us())))
    return windows


def _kernels_per_call(events: list[Any]) -> list[dict[str, float]]:
    totals = []
    for launches in kernel_launches(events):
        kernels: dict[str, float] = {}
        for name, us in launches:
            kernels[name] = kernels.get(name, 0.0) + us
        totals.append(kernels)
    return totals


def _device_share(kernels: dict[str, float], own_kernels: list[str]) -> dict[str, Any]:
    total = sum(kernels.values())
    own = {name: us for name, us in kernels.items() if any(launches_kernel(name, k) for k in own_kernels)}
    return {
        "method": "torch.profiler (cuda kernels)",
        "own_share": sum(own.values()) / total if total else 0.0,
        "own_us": sum(own.values()),
        "library_us": total - sum(own.values()),
        "total_us": total,
        "kernels": dict(sorted(kernels.items(), key=lambda item: -item[1])[:12]),
        "own_kernels_seen": sorted(own),
    }


def launches_kernel(kernel: str, declared: str) -> bool:
    """Whether a profiler's kernel name is the `__global__` function `declared`: demangled (`void ns::f<int>(...)`)
    or mangled (`_Z1fPf`, `_ZN2ns1fEv`: the name's length, then the name)."""
    name = re.escape(declared)
    return (re.search(rf"(^|[^\w]){name}([^\w]|$)", kernel) is not None
            or re.search(rf"^_Z.*(?<![0-9]){len(declared)}{name}", kernel) is not None)
