"""`kernelwright export RUN --best DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..store import Store, StoreError
from .db_cmd import DbOption, db_path
from .render import console, fail


def export_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="An agent or eval run.")],
    best: Annotated[Path, typer.Option("--best", help="Folder for the best kernel per task and manifest.json.")],
    db: DbOption = None,
) -> None:
    """Write each task's best correct kernel as a KernelBench-format solution file, with a manifest."""
    from ..report.export import MANIFEST, export_best

    try:
        with Store(db_path(ctx), readonly=True) as store:
            manifest = export_best(store, run_id, best)
    except StoreError as exc:
        fail(escape(str(exc)))
    except OSError as exc:
        fail(f"cannot write to {escape(str(best))}: {escape(str(exc))}")
    written = sum(1 for entry in manifest["tasks"] if entry["file"])
    console.print(f"{written} of {len(manifest['tasks'])} tasks have a correct kernel; "
                  f"{escape(str(best / MANIFEST))}", highlight=False)
