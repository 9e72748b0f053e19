"""`kernelwright export RUN --best DIR`: each task's best kernel as a KernelBench-format solution, plus a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..store import Candidate, Run, Store, StoreError
from .format import judge_model
from .records import SampleRecord, load_records

MANIFEST = "manifest.json"


def best_per_task(records: list[SampleRecord]) -> dict[str, SampleRecord]:
    """A correct sample with the highest re-timed speedup over eager; else the task's first sample."""
    chosen: dict[str, SampleRecord] = {}
    for record in sorted(records, key=lambda r: (r.task, r.sample)):
        current = chosen.get(record.task)
        if current is None or _rank(record) > _rank(current):
            chosen[record.task] = record
    return chosen


def _rank(record: SampleRecord) -> tuple[int, float]:
    return (1 if record.correct else 0, record.best_speedup_eager or 0.0)


def export_best(store: Store, run_id: str, out: Path) -> dict[str, Any]:
    """Writes `out/levelN/NAME.py` for every task with a correct kernel and `out/manifest.json` for all tasks."""
    run = store.get(Run, run_id)
    if run is None:
        raise StoreError(f"{store.path} has no run {run_id!r}; `kernelwright db info` lists the latest runs")
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for task, record in sorted(best_per_task(load_records(store, run_id)).items()):
        candidate = store.get(Candidate, record.best_candidate_id) if record.best_candidate_id else None
        entry: dict[str, Any] = {
            "task": task, "level": record.level, "task_hash": record.task_hash, "sample": record.sample,
            "verdict": record.best_verdict, "reason": record.best_reason, "file": None,
            "candidate_id": record.best_candidate_id, "round": candidate.round if candidate else None,
            "speedup_eager": record.best_speedup_eager, "ci_eager": [record.ci_low, record.ci_high],
            "speedup_compile": record.best_speedup_compile,
            "ci_compile": [record.ci_compile_low, record.ci_compile_high],
        }
        if record.correct and candidate is not None:
            path = Path(task if "/" in task else f"tasks/{task}").with_suffix(".py")
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_text(candidate.source)
            entry["file"] = str(path)
        entries.append(entry)
    manifest = {
        "run_id": run.id, "kind": run.kind, "created_at": run.created_at, "model": run.config.get("model"),
        "judge_model": judge_model(run.config), "device": run.config.get("device"),
        "environment": run.environment.model_dump() if run.environment else None,
        "note": "speedups are the re-timed best of each task (median over fresh processes, 95% bootstrap CI); "
                "files are KernelBench-format solutions defining ModelNew",
        "tasks": entries,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
