"""The hardware sheet as the prompts show it: any keys, labelled, with units, nested tables as tables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Keys the harness uses to look a device up or to set its floor; they tell an agent nothing.
HIDDEN = frozenset({"matched", "match", "l2_bandwidth_factor"})

LABELS: dict[str, str] = {
    "sm_count": "SMs",
    "l2_bytes": "L2 cache",
    "l2_mib": "L2 cache",
    "smem_per_sm_bytes": "shared memory per SM",
    "smem_per_sm_kib": "shared memory per SM",
    "smem_per_block_optin_bytes": "shared memory per block (opt-in max)",
    "registers_per_sm": "32-bit registers per SM",
    "memory_bytes": "device memory",
    "max_threads_per_sm": "max threads per SM",
    "clock_mhz": "SM clock",
    "bandwidth_gbs": "memory bandwidth",
    "peak_tflops": "peak TFLOP/s",
    "datasheet_name": "datasheet",
    "known_gpus": "known GPUs",
    "vector_width_bits": "vector width",
    "isa": "ISA",
    "amx": "AMX",
    "assumed_ghz": "clock (assumed)",
    "fp32_tflops": "fp32",
    "tf32_tflops": "tf32",
    "fp16_tflops": "fp16",
    "bf16_tflops": "bf16",
    "fp64_tflops": "fp64",
}

UNITS: dict[str, str] = {
    "_gbs": "GB/s", "_tflops": "TFLOP/s", "_mhz": "MHz", "_ghz": "GHz", "_bits": "bits", "_kib": "KiB",
    "_mib": "MiB", "_gib": "GiB", "_ms": "ms", "_us": "us",
}


class Row(BaseModel):
    label: str
    value: str


class Table(BaseModel):
    label: str
    columns: list[str]
    rows: list[list[str]]


class SheetView(BaseModel):
    rows: list[Row]
    tables: list[Table]


def sheet_view(sheet: dict[str, Any]) -> SheetView:
    """Scalars and small dicts become labelled rows; dicts or lists of records become tables."""
    rows, tables = [], []
    for key, value in sheet.items():
        if key in HIDDEN or value is None or value == {} or value == []:
            continue
        records = _records(value)
        if records is not None:
            tables.append(_table(key, records))
        elif isinstance(value, dict):
            parts = [f"{k} {quantity(v, k, with_unit=False)}" for k, v in value.items() if v is not None]
            rows.append(Row(label=label(key), value=", ".join(parts)))
        else:
            rows.append(Row(label=label(key), value=quantity(value, key)))
    return SheetView(rows=rows, tables=tables)


def label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    for suffix in (*UNITS, "_bytes"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def unit(key: str) -> str | None:
    return next((name for suffix, name in UNITS.items() if key.endswith(suffix)), None)


def quantity(value: Any, key: str, *, with_unit: bool = True) -> str:
    """One value with its unit, read from the key's suffix (`_bytes` scaled to KiB/MiB/GiB)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(quantity(v, key, with_unit=with_unit) for v in value)
    if isinstance(value, (int, float)) and key.endswith("_bytes"):
        return _bytes(value)
    text = number(value) if isinstance(value, (int, float)) else str(value)
    suffix = unit(key) if with_unit else None
    return f"{text} {suffix}" if suffix else text


def number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}" if abs(value) >= 10000 else str(int(value))
    return f"{value:.4g}"


def _bytes(value: float) -> str:
    for power, name in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if value >= 2**power:
            return f"{value / 2**power:.4g} {name}"
    return f"{int(value)} B"


def _records(value: Any) -> list[tuple[str | None, dict[str, Any]]] | None:
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(None, v) for v in value]
    return None


def _table(key: str, records: list[tuple[str | None, dict[str, Any]]]) -> Table:
    columns: list[str] = []
    for _, record in records:
        for name, cell in record.items():
            if name not in HIDDEN and name not in columns and not isinstance(cell, dict):
                columns.append(name)
    keyed = any(name is not None for name, _ in records) and "name" not in columns
    header = (["id"] if keyed else []) + [_column(c) for c in columns]
    rows = [([name or ""] if keyed else []) + [_cell(record.get(c), c) for c in columns] for name, record in records]
    return Table(label=label(key), columns=header, rows=rows)


def _column(key: str) -> str:
    suffix = "" if key.endswith("_bytes") else unit(key)
    return f"{label(key)} ({suffix})" if suffix else label(key)


def _cell(value: Any, key: str) -> str:
    return "" if value is None else quantity(value, key, with_unit=False)
