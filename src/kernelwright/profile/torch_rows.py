"""Rows of a torch.profiler trace (runs inside the profile worker): kernels on CUDA, ops on the CPU.

Only work inside the measured `RANGE`s counts. CPU: each extension function the candidate calls (a
`kw_own::NAME` range, see CountingExtension) is one own row, its time net of an empty range's cost and of the
library compute it calls into; library rows are ATen compute ops run directly by forward() or from inside the
extension (allocation, views and copies are glue and left out). CUDA: one row per kernel name, own when a
`__global__` name of the candidate's sources matches it.
"""

from __future__ import annotations

import statistics
from typing import Any

from ..verify.attribution import OWN_PREFIX, kernel_launches, launches_kernel
from ..verify.policy import load_attribution_policy
from .models import KernelRow

RANGE = "kw_profile"
CALIBRATION = "kw_profile_empty"
INSIDE = "inside_extension_us"


def cpu_rows(events: list[Any]) -> tuple[list[KernelRow], list[str]]:
    range_cost = statistics.median([e.cpu_time_total for e in events if e.name == CALIBRATION] or [0.0])
    rows: dict[tuple[str, bool], KernelRow] = {}
    for event in events:
        if event.name.startswith(OWN_PREFIX) and _in_range(event):
            library = [c for c in event.cpu_children if _library(c.name)]
            inside = sum(c.cpu_time_total for c in library)
            row = _row(rows, event.name.removeprefix(OWN_PREFIX), own=True)
            row.total_us += max(0.0, event.cpu_time_total - range_cost - inside)
            if inside:
                row.metrics["library_inside_us"] = float(row.metrics.get("library_inside_us", 0.0)) + inside
            for child in library:
                called = _row(rows, child.name, own=False)
                called.total_us += child.cpu_time_total
                called.metrics[INSIDE] = float(called.metrics.get(INSIDE, 0.0)) + child.cpu_time_total
        elif _library(event.name) and event.cpu_parent is not None and event.cpu_parent.name == RANGE:
            _row(rows, event.name, own=False).total_us += event.cpu_time_total
    notes = [f"own ranges are charged net of an empty profiler range ({range_cost:.1f} us each)"] if range_cost else []
    return _ordered(rows), notes


def cuda_rows(events: list[Any], own_kernels: list[str]) -> list[KernelRow]:
    rows: dict[tuple[str, bool], KernelRow] = {}
    for launches in kernel_launches(events, RANGE):
        for name, us in launches:
            own = any(launches_kernel(name, declared) for declared in own_kernels)
            row = _row(rows, name, own=own)
            row.total_us += us
    return _ordered(rows)


def _row(rows: dict[tuple[str, bool], KernelRow], name: str, *, own: bool, counted: bool = True) -> KernelRow:
    row = rows.get((name, own))
    if row is None:
        row = rows[(name, own)] = KernelRow(name=name, own=own)
    if counted:
        row.calls += 1
    return row


def _library(name: str) -> bool:
    return load_attribution_policy().library_op(name)


def _in_range(event: Any) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == RANGE:
            return True
        parent = parent.cpu_parent
    return False


def _ordered(rows: dict[tuple[str, bool], KernelRow]) -> list[KernelRow]:
    return sorted(rows.values(), key=lambda row: (-row.total_us, row.name))
