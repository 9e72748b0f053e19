"""`export --dataset`: a run's candidates as JSON Lines that the `datasets` library loads, with labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelwright.agents.loop import LoopConfig
from kernelwright.agents.runner import RunConfig, Runner
from kernelwright.cli import app
from kernelwright.llm import CallContext, Completion, Message
from kernelwright.llm.recording import RecordingModel
from kernelwright.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agents"))
from test_runner import SOURCE, TASK, result  # noqa: E402

datasets = pytest.importorskip("datasets")


class Thinking:
    spec = "test/thinker"

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        return Completion(text=SOURCE, model="thinker-1", input_tokens=3, output_tokens=2, cost_usd=0.0,
                          reasoning=f"round {context.round}: try a wider tile")


class Verdicts:
    """Hands out the verdicts in order: a rejected trick, a wrong kernel, a fast one, then its final re-timing."""

    lanes = 1

    def __init__(self) -> None:
        self.results = [result("STATIC_REJECT").model_copy(update={"reason": "STRING_REACH"}),
                        result("INCORRECT").model_copy(update={"reason": "elementwise"}),
                        result("PASS", 2.5, "PERF_VALID"), result("PASS", 2.25, "PERF_VALID")]

    def build(self, task, source, options, on_phase=None) -> list:
        return []

    def verify(self, task, source, options, on_phase=None):
        return self.results.pop(0).model_copy(deep=True)

    def stats(self):
        from kernelwright.evaluate.executor import LaneStats
        return LaneStats()


def finished_run(path: Path) -> str:
    with Store(path) as store:
        model = RecordingModel(Thinking(), store)
        config = RunConfig(tasks=[], model="test/thinker", device="cpu", loop=LoopConfig(rounds=3, plateau_rounds=9),
                           profile=False, sanitize=False)
        runner = Runner.start(store, config, kind="eval", coder=model, judge=model, hardware={"device": "cpu"},
                              executor=Verdicts())
        [outcome] = runner.execute([TASK])
        assert outcome.best_verdict == "PASS"
        return runner.run.id


def test_candidates_round_trip_through_datasets(tmp_path: Path) -> None:
    db = tmp_path / "kw.db"
    run_id = finished_run(db)
    out = tmp_path / "data" / "candidates.jsonl"
    done = CliRunner().invoke(app, ["--db", str(db), "export", run_id, "--dataset", str(out)])
    assert done.exit_code == 0, done.output
    assert "3 candidate line(s)" in done.output
    rows = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert rows.num_rows == 3
    by_round = {row["round"]: row for row in rows}
    assert [by_round[r]["label"] for r in (0, 1, 2)] == ["caught", "failed", "positive"]
    assert by_round[0]["rejection"] == "STATIC_REJECT: STRING_REACH"
    assert by_round[1]["rejection"] == "INCORRECT: elementwise"
    fast = by_round[2]
    assert (fast["speedup_eager"], fast["final_verdict"], fast["final_speedup_eager"]) == (2.5, "PASS", 2.25)
    assert fast["reference"] == TASK.source and fast["kernel"].startswith("import torch.nn")
    assert fast["reasoning"] == "round 2: try a wider tile" and fast["reply"] == SOURCE
    assert fast["messages"][0]["role"] == "system" and fast["model"] == "thinker-1"
    assert fast["policy_hash"] and fast["harness_version"]


def test_trajectories_hold_their_steps(tmp_path: Path) -> None:
    db = tmp_path / "kw.db"
    run_id = finished_run(db)
    out = tmp_path / "trajectories.jsonl"
    done = CliRunner().invoke(app, ["--db", str(db), "export", run_id, "--dataset", str(out), "--unit", "trajectory"])
    assert done.exit_code == 0, done.output
    [line] = [json.loads(text) for text in out.read_text().splitlines()]
    assert (line["task"], line["best_verdict"], line["best_speedup_eager"]) == (TASK.ref, "PASS", 2.25)
    assert [step["label"] for step in line["steps"]] == ["caught", "failed", "positive"]
    assert "reference" not in line["steps"][0]
    rows = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert rows.num_rows == 1 and len(rows[0]["steps"]) == 3


def test_export_says_what_to_export(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["--db", str(tmp_path / "kw.db"), "export", "r1"])
    assert done.exit_code != 0 and "--best DIR" in done.output
