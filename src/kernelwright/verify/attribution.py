"""Which work in one forward() is the candidate's own: torch.profiler over calls, inside the worker.

CPU: time inside the candidate's extension functions, less every library op that runs while forward() runs (inside
them or outside, called from Python or from C++, at any depth; sandbox/attribution.toml names the library namespaces
and the allocation and view ops that do no work), over that plus the library time. CUDA: device time of kernels the
candidate's sources define (`__global__` names), over all kernels but the allowed allocation helpers.
The numbers are evidence computed in the candidate's process; the orchestrator only applies policy to them.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function

from .policy import AttributionPolicy, load_attribution_policy

OWN_PREFIX = "kw_own::"
CALL = "kw_forward"
EMPTY = "kw_empty_range"
OP_RANGE = "kw_op_range"  # a named range around one trivial dispatcher op
BIND_RANGE = "kw_bind_range"  # a named range around one trivial bound C++ function taking a tensor
MEASURED_CALLS = 5
CALIBRATION_RANGES = 25
GLOBAL_NAME = re.compile(r"__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(?:static\s+)?void\s+(\w+)")


def kernel_names(cuda_sources: list[str]) -> list[str]:
    return sorted({name for source in cuda_sources for name in GLOBAL_NAME.findall(source)})


@contextmanager
def profiled(device: str) -> Iterator[profile]:
    """A profiler session that first prices an empty named range and the bookkeeping one op adds (see `summarise`)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    probe = torch.empty(4)
    with profile(activities=activities) as prof:
        for _ in range(CALIBRATION_RANGES):
            with record_function(EMPTY):
                pass
            with record_function(OP_RANGE):
                torch.ops.aten.alias(probe)
            with record_function(BIND_RANGE):
                torch._C._dispatch_keys(probe)
        yield prof


def attribute(call: Callable[[], Any], device: str, own_kernels: list[str], own_prefix: str = OWN_PREFIX,
              policy: AttributionPolicy | None = None) -> dict[str, Any]:
    """Profiles MEASURED_CALLS calls of `call` (after one unmeasured) and says how much of them was own work."""
    with profiled(device) as prof:
        call()  # the profiler's own first-call set-up lands here, outside the measured ranges
        for _ in range(MEASURED_CALLS):
            with record_function(CALL):
                call()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
    return summarise(list(prof.events()), device, own_kernels, own_prefix, policy)


def summarise(events: list[Any], device: str, own_kernels: list[str], own_prefix: str = OWN_PREFIX,
              policy: AttributionPolicy | None = None) -> dict[str, Any]:
    """The measured calls' shares (CPU: pooled; CUDA: the median call); every `CALL` range is one measured call."""
    policy = policy or load_attribution_policy()
    # A named range costs microseconds under the profiler, and each op recorded inside it adds bookkeeping outside
    # the op's own interval; at CPU-test sizes that rivals a library call's work. A thin wrapper around library
    # calls must not count it as its own, so each own range is charged net of an empty range's median cost and of
    # one op's bookkeeping per library op it calls.
    range_cost = statistics.median([e.cpu_time_total for e in events if e.name == EMPTY] or [0.0])
    op_gaps = [e.cpu_time_total - sum(c.cpu_time_total for c in e.cpu_children) for e in events if e.name == OP_RANGE]
    op_cost = max(0.0, statistics.median(op_gaps) - range_cost) if op_gaps else 0.0
    binds = [e.cpu_time_total for e in events if e.name == BIND_RANGE]
    range_cost = max(range_cost, statistics.median(binds)) if binds else range_cost  # an own range holds a call
    if device.startswith("cuda"):
        shares = [_device_share(kernels, own_kernels, policy) for kernels in _kernels_per_call(events)]
        if not any(share["total_us"] for share in shares):
            return {"error": "the profiler recorded no GPU kernel in the measured calls (is CUPTI usable here?)",
                    "device_events": sum(1 for e in events if _on_device(e))}
    else:
        calls = [e for e in events if e.name == CALL]
        if not calls:
            return {"error": "the profiler recorded no measured call"}
        shares = [_cpu_share(call, events, range_cost, op_cost, own_prefix, policy) for call in calls]
    if device.startswith("cuda"):  # the median call: a descheduled moment can push one call's share either way
        typical = sorted(shares, key=lambda share: share["own_share"])[len(shares) // 2]
    else:  # at CPU-test sizes one call's work is microseconds: the calls together weigh noise by the work around it
        typical = _pooled(shares, policy)
    typical.pop("all_library_ops", None)
    return {**typical, "calls": len(shares), "range_cost_us": round(range_cost, 3),
            "op_cost_us": round(op_cost if not device.startswith("cuda") else 0.0, 3),
            "own_shares": [round(share["own_share"], 4) for share in shares]}


def _cpu_share(call: Any, events: list[Any], range_cost: float, op_cost: float, own_prefix: str,
               policy: AttributionPolicy) -> dict[str, Any]:
    """One call's own and library time. Library ops are counted where they are outermost (a library op's own
    children are its work); one on another thread (an OpenMP worker) counts by time, not by nesting."""
    inside = [e for e in events if e is not call and _within(e, call)]
    own = lambda e: e.name.startswith(own_prefix)  # noqa: E731
    library_op = lambda e: policy.library_op(e.name)  # noqa: E731
    own_us, library_in_own_us = 0.0, 0.0
    library: dict[str, float] = {}
    for event in inside:
        if own(event) and not _has_ancestor(event, own, call):
            own_us += max(0.0, event.cpu_time_total - range_cost)
        elif library_op(event) and not _has_ancestor(event, library_op, call):
            library[event.name] = library.get(event.name, 0.0) + event.cpu_time_total
            if getattr(event, "thread", None) == getattr(call, "thread", None) and _has_ancestor(event, own, call):
                library_in_own_us += event.cpu_time_total + op_cost
    return {**_shares(max(0.0, own_us - library_in_own_us), library, policy), "all_library_ops": library}


def _pooled(shares: list[dict[str, Any]], policy: AttributionPolicy) -> dict[str, Any]:
    """One typical call, read two ways, and the one that gives the candidate the smaller own share: the calls summed
    (a call descheduled inside the library's work, or a slow first call, weighs in full) and the median call's own
    time against the median call's library time (a call descheduled inside the candidate's own range, for
    milliseconds on a busy machine, moves neither median). An honest kernel spends no library time, so both
    read 1.0 for it; a thin wrapper around library calls must look like one both ways."""
    library: dict[str, float] = {}
    for share in shares:
        for name, us in share["all_library_ops"].items():
            library[name] = library.get(name, 0.0) + us
    total = sum(library.values())
    summed = _shares(sum(s["own_us"] for s in shares) / len(shares),
                     {name: us / len(shares) for name, us in library.items()}, policy)
    library_median = statistics.median(s["library_us"] for s in shares)
    median = _shares(statistics.median(s["own_us"] for s in shares),
                     {name: us * library_median / total for name, us in library.items()} if total else {}, policy)
    chosen = min((summed, median), key=lambda share: share["own_share"])
    return {**chosen, "own_share_summed": round(summed["own_share"], 4), "own_share_median": round(median["own_share"], 4)}


def _shares(own_us: float, library: dict[str, float], policy: AttributionPolicy) -> dict[str, Any]:
    library_us = sum(library.values())
    # Python glue between the calls belongs to neither side: only measured work is shared out.
    total = max(own_us + library_us, 1e-9)
    ranked = sorted(library.items(), key=lambda item: -item[1])[:policy.top_ops]
    return {
        "method": "torch.profiler (cpu)",
        "own_share": max(0.0, min(1.0, own_us / total)) if library_us > 0 else 1.0,
        "own_us": own_us,
        "library_us": library_us,
        "library_ops": dict(ranked),
        "library_shares": {name: round(us / total, 4) for name, us in ranked},
    }


def _within(event: Any, outer: Any) -> bool:
    return outer.time_range.start <= event.time_range.start and event.time_range.end <= outer.time_range.end


def _has_ancestor(event: Any, test: Callable[[Any], bool], stop: Any) -> bool:
    parent = event.cpu_parent
    while parent is not None and parent is not stop:
        if test(parent):
            return True
        parent = parent.cpu_parent
    return False


def _measured(events: list[Any], range_name: str = CALL) -> list[list[Any]]:
    """The events of each measured call: its range and everything nested in it."""
    ranges = [e for e in events if e.name == range_name]
    return [[e for e in events if r.time_range.start <= e.time_range.start and e.time_range.end <= r.time_range.end]
            for r in ranges] or [events]


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


def _device_share(kernels: dict[str, float], own_kernels: list[str],
                  policy: AttributionPolicy | None = None) -> dict[str, Any]:
    policy = policy or load_attribution_policy()
    total = sum(kernels.values())
    own = {name: us for name, us in kernels.items() if any(launches_kernel(name, k) for k in own_kernels)}
    library = sorted(((name, us) for name, us in kernels.items() if name not in own and policy.library_kernel(name)),
                     key=lambda item: -item[1])
    measured = sum(own.values()) + sum(us for _, us in library)
    return {
        "method": "torch.profiler (cuda kernels)",
        "own_share": sum(own.values()) / measured if measured else 0.0,
        "own_us": sum(own.values()),
        "library_us": measured - sum(own.values()),
        "library_ops": dict(library[:policy.top_ops]),
        "library_shares": {name: round(us / measured, 4) for name, us in library[:policy.top_ops]},
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
