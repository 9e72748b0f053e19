"""`kernelwright show` run for real: no run id lists runs, a round that does not exist is one error line, a failure
line is printed once, a cached build shows what compiling it took, and a stop sits on a round that ran."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelwright.cli import app
from kernelwright.store import Build, Candidate, Event, Run, Store, TaskRecord, Verification
from kernelwright.verify.models import CorrectnessReport, TrialFailure, VerificationResult
from kernelwright.verify.compare import Mismatch

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def failure(trial: str) -> TrialFailure:
    return TrialFailure(trial=trial, purpose="trial", shape="small", overrides={"n": 8}, distribution="normal", init=7,
                        mismatches=[Mismatch(output=0, reason="elementwise", detail=f"bad values in {trial}")])


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "kw.db"
    with Store(db) as store:
        run = store.add(Run(kind="agent", status="finished", config={"model": "scripted/demo", "rounds": 2,
                                                                     "tasks": ["x.py"]}))
        store.upsert_task(TaskRecord(hash="h", name="1_x", level=1, source="..."))
        seed = store.add(Candidate(run_id=run.id, task_hash="h", round=0, origin="coder:seed", source="a\n"))
        repair = store.add(Candidate(run_id=run.id, task_hash="h", round=1, origin="coder:repair", source="b\n",
                                     parent_id=seed.id))
        report = CorrectnessReport(trials_run=2, failures=[failure("t0"), failure("t1")])
        for candidate, compiled in ((seed, None), (repair, 12.5)):
            builds = [{"key": f"k{candidate.round}", "ok": True, "cached": compiled is not None, "seconds": 0.0,
                       "compile_seconds": compiled}]
            result = VerificationResult(verdict="INCORRECT", reason="elementwise", task="level1/1_x", task_hash="h",
                                        device="cpu", correctness=report, builds=builds,
                                        summary=f"2 of 2 trials wrong; first: {failure('t0').line()}")
            store.add(Verification(candidate_id=candidate.id, verdict="INCORRECT", evidence=result.model_dump(mode="json")))
            store.add(Build(candidate_id=candidate.id, source_hash=f"k{candidate.round}", backend="cpu", ok=True,
                            cached=compiled is not None, seconds=3.0 if compiled is None else 0.0))
        # as runs before this fix stored it: the stop on round 2, which never ran
        store.add(Event(run_id=run.id, kind="stop", payload={"task_hash": "h", "round": 2, "detail": "rounds: 2 rounds"}))
    return db, run.id


def test_show_without_a_run_lists_the_runs(stored):
    db, run_id = stored
    result = runner.invoke(app, ["show", "--db", str(db)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "latest runs" in result.stdout and run_id in result.stdout and "scripted/demo" in result.stdout


def test_show_of_a_round_that_does_not_exist_says_so(stored):
    db, run_id = stored
    result = runner.invoke(app, ["show", run_id, "--round", "9", "--db", str(db)], env=WIDE)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: run {run_id} has no round 9 (rounds 0-1)"


def test_show_prints_a_failure_once_a_cached_build_time_and_no_phantom_round(stored):
    db, run_id = stored
    text = runner.invoke(app, ["show", run_id, "--db", str(db)], env=WIDE).stdout
    assert text.count("bad values in t0") == 2  # once per round, in its summary
    assert text.count("bad values in t1") == 2
    assert "build: ok in 3.0 s" in text and "build: ok (cached; compiled in 12.5 s)" in text
    assert "round 2" not in text and "stop: rounds: 2 rounds" in text


def test_replay_hint_names_a_command_that_lists_runs(stored):
    db, run_id = stored
    result = runner.invoke(app, ["show", "--db", str(db)], env=WIDE)
    assert result.exit_code == 0  # what `no run X ...; kernelwright show lists runs` points to
