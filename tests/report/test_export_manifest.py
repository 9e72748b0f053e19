"""`export`'s manifest.json names the models as the report does."""

import json
from pathlib import Path

from kernelwright.report.export import MANIFEST, export_best
from kernelwright.report.format import judge_model
from kernelwright.report.tables import run_facts
from kernelwright.store import Run, Store


def test_manifest_judge_model_matches_the_report(tmp_path: Path) -> None:
    with Store(tmp_path / "kw.db") as store:
        same = store.add(Run(kind="eval", config={"model": "openai/coder-x", "tasks": []}))
        other = store.add(Run(kind="eval", config={"model": "openai/coder-x", "judge_model": "anthropic/j",
                                                   "tasks": []}))
        for run, expected in ((same, "openai/coder-x"), (other, "anthropic/j")):
            export_best(store, run.id, tmp_path / run.id)
            manifest = json.loads((tmp_path / run.id / MANIFEST).read_text())
            assert manifest["judge_model"] == judge_model(run.config) == expected
            assert ("judge model", expected) in [(k, v) for k, v in run_facts(run)]
