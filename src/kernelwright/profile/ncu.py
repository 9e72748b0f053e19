"""Nsight Compute: finding `ncu`, its command line, reading its CSV, and telling its failures apart.

`ncu --csv --page raw` prints one header row (ID, Process ID, Process Name, Host Name, with `--nvtx` the NVTX
range columns, Kernel Name, Context, Stream, Block Size, Grid Size, Device, CC, then one column per metric), one
row of units (empty under the identity columns), and one row per profiled kernel launch. `--page details`
prints the long form instead (one row per metric: Section Name, Metric Name, Metric Unit, Metric Value); both
are read. ncu's own messages (`==PROF==`, `==WARNING==`, `==ERROR==`) may sit between the rows and are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from pydantic import BaseModel, Field

from ..verify.attribution import launches_kernel
from ..executables import find_executable
from .config import NcuSettings
from .models import KernelRow

NCU_ENV = "KERNELWRIGHT_NCU"
DURATION = "gpu__time_duration.sum"
NOT_FOUND = "ncu not found"
NO_PERMISSION = "no permission for GPU performance counters (ERR_NVGPUCTRPERM)"
PERMISSION_TEXT = re.compile(r"ERR_NVGPUCTRPERM|permission to access NVIDIA GPU Performance Counters", re.IGNORECASE)
MISSING_METRIC = re.compile(r"Failed to find metric\s+(?:regex:)?\"?([\w.]+)")
METRIC_NAME = re.compile(r"^[a-z0-9]+__\w[\w.]*$")  # dram__bytes_read.sum; not "Kernel Name" or an NVTX column
_TO_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}


class NcuLaunch(BaseModel):
    """One profiled kernel launch."""

    id: str
    kernel: str
    metrics: dict[str, float | str] = Field(default_factory=dict)


class NcuTable(BaseModel):
    launches: list[NcuLaunch] = Field(default_factory=list)
    units: dict[str, str] = Field(default_factory=dict)


def find_ncu(settings: NcuSettings) -> tuple[str | None, str]:
    """ncu's path, or None; and where it came from (or why none was found)."""
    return find_executable("ncu", NCU_ENV, settings.paths, "profiler.toml")


def ncu_argv(ncu: str, settings: NcuSettings, metrics: list[str], own_kernels: list[str], log_file: Path,
             worker: list[str]) -> list[str]:
    argv = [ncu, *settings.args, "--log-file", str(log_file), "--metrics", ",".join(metrics),
            "--nvtx", "--nvtx-include", f"{settings.nvtx_range}/",
            "--launch-count", str(settings.launch_count)]
    if settings.launch_skip:
        argv += ["--launch-skip", str(settings.launch_skip)]
    if settings.kernel_filter == "own" and own_kernels:
        argv += ["--kernel-name", kernel_regex(own_kernels)]
    return [*argv, *worker]


def kernel_regex(names: list[str]) -> str:
    """ncu's -k filter for these `__global__` names: the bare name, in a namespace, or a template instance."""
    return "regex:^(.*::)?(" + "|".join(re.escape(n) for n in sorted(names)) + ")([<(].*)?$"


def permission_denied(text: str) -> bool:
    return PERMISSION_TEXT.search(text) is not None


def missing_metrics(text: str) -> list[str]:
    return sorted(set(MISSING_METRIC.findall(text)))


def error_line(text: str) -> str | None:
    """ncu's first error message, or the last line of output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("==ERROR=="):
            return line.removeprefix("==ERROR==").strip()[:300]
    return lines[-1][:300] if lines else None


# ---------------------------------------------------------------------------------------------- CSV


def parse_ncu_csv(text: str) -> NcuTable:
    """The launches in ncu's CSV output (raw or details page); an empty table when there is none."""
    rows = list(csv.reader(io.StringIO("\n".join(line for line in text.splitlines() if line.startswith('"')))))
    start = next((i for i, row in enumerate(rows) if row[:1] == ["ID"] and "Kernel Name" in row), None)
    if start is None:
        return NcuTable()
    header = rows[start]
    body = [row for row in rows[start + 1:] if row != header]
    if "Metric Name" in header and "Metric Value" in header:
        return _long_form(header, body)
    return _wide_form(header, body)


def _wide_form(header: list[str], body: list[list[str]]) -> NcuTable:
    metric_columns = [(i, name) for i, name in enumerate(header) if METRIC_NAME.match(name)]
    table = NcuTable()
    kernel_at = header.index("Kernel Name")
    for row in body:
        if len(row) != len(header):
            continue
        if not row[0]:  # the units row
            table.units.update({name: row[i] for i, name in metric_columns if row[i]})
            continue
        table.launches.append(NcuLaunch(id=row[0], kernel=row[kernel_at],
                                        metrics={name: _value(row[i]) for i, name in metric_columns}))
    return table


def _long_form(header: list[str], body: list[list[str]]) -> NcuTable:
    at = {name: header.index(name) for name in ("ID", "Kernel Name", "Metric Name", "Metric Value")}
    unit_at = header.index("Metric Unit") if "Metric Unit" in header else None
    table = NcuTable()
    launches: dict[str, NcuLaunch] = {}
    for row in body:
        if len(row) != len(header) or not row[at["ID"]]:
            continue
        launch = launches.get(row[at["ID"]])
        if launch is None:
            launch = launches[row[at["ID"]]] = NcuLaunch(id=row[at["ID"]], kernel=row[at["Kernel Name"]])
            table.launches.append(launch)
        name = row[at["Metric Name"]]
        launch.metrics[name] = _value(row[at["Metric Value"]])
        if unit_at is not None and row[unit_at]:
            table.units[name] = row[unit_at]
    return table


def _value(text: str) -> float | str:
    """A number when it reads as one (ncu writes thousands separators), else the text as ncu wrote it."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return text


def kernel_rows(table: NcuTable, own_kernels: list[str]) -> list[KernelRow]:
    """One row per kernel name: launches counted, durations summed, each metric the duration-weighted mean over
    the launches (a per-launch value), text metrics as the first launch reported them. Longest first."""
    scale = _TO_US.get(table.units.get(DURATION, "nsecond"), 1e-3)
    groups: dict[str, list[NcuLaunch]] = {}
    for launch in table.launches:
        groups.setdefault(launch.kernel, []).append(launch)
    rows = []
    for name, launches in groups.items():
        durations = [d if isinstance(d := launch.metrics.get(DURATION), float) else 0.0 for launch in launches]
        weights = durations if sum(durations) > 0 else [1.0] * len(launches)
        metrics: dict[str, float | str] = {}
        for metric in launches[0].metrics:
            values = [(launch.metrics.get(metric), w) for launch, w in zip(launches, weights)]
            numbers = [(v, w) for v, w in values if isinstance(v, float)]
            if numbers:
                metrics[metric] = sum(v * w for v, w in numbers) / max(sum(w for _, w in numbers), 1e-30)
            else:
                metrics[metric] = str(values[0][0])
        rows.append(KernelRow(name=name, own=any(launches_kernel(name, k) for k in own_kernels), calls=len(launches),
                              total_us=sum(durations) * scale, metrics=metrics))
    return sorted(rows, key=lambda row: -row.total_us)
