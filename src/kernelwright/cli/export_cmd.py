"""`kernelwright export RUN --best DIR` and `kernelwright export RUN --dataset FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from ..store import Store, StoreError
from .db_cmd import DbOption, db_path
from .render import console, fail


def export_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="An agent or eval run.")],
    best: Annotated[Path | None, typer.Option("--best", help="Folder for the best kernel per task and manifest.json.")] = None,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset", help="JSON Lines file of the run's candidates (or trajectories) as training data.")] = None,
    unit: Annotated[str, typer.Option("--unit", help="With --dataset: a line per candidate or per trajectory.",
                                      case_sensitive=False)] = "candidate",
    db: DbOption = None,
) -> None:
    """Write each task's best correct kernel as a KernelBench-format solution file with a manifest (--best), or the
    run's candidates with prompts, replies, verdicts, speedups and rejection labels as JSON Lines (--dataset)."""
    if best is None and dataset is None:
        fail("say what to export: --best DIR (the best kernels) or --dataset FILE (training data), or both")
    if unit not in ("candidate", "trajectory"):
        fail(f"--unit is candidate or trajectory, not {escape(unit)}")
    try:
        with Store(db_path(ctx), readonly=True) as store:
            if best is not None:
                _best(store, run_id, best)
            if dataset is not None:
                _dataset(store, run_id, dataset, unit)  # type: ignore[arg-type]
    except StoreError as exc:
        fail(escape(str(exc)))


def _best(store: Store, run_id: str, best: Path) -> None:
    from ..report.export import MANIFEST, export_best

    try:
        manifest = export_best(store, run_id, best)
    except OSError as exc:
        fail(f"cannot write to {escape(str(best))}: {escape(str(exc))}")
    written = sum(1 for entry in manifest["tasks"] if entry["file"])
    console.print(f"{written} of {len(manifest['tasks'])} tasks have a correct kernel; "
                  f"{escape(str(best / MANIFEST))}", highlight=False)


def _dataset(store: Store, run_id: str, out: Path, unit: Literal["candidate", "trajectory"]) -> None:
    from ..report.dataset import write_dataset

    try:
        lines = write_dataset(store, run_id, out, unit)
    except OSError as exc:
        fail(f"cannot write to {escape(str(out))}: {escape(str(exc))}")
    console.print(f"{lines} {unit} line(s) in {escape(str(out))}", highlight=False)
