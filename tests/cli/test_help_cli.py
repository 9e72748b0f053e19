"""Help text as a new user reads it: brackets shown literally, no value placeholder on a flag, --db after a command."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelwright.cli import app
from kernelwright.store import Run, Store

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
COMMANDS = [["run"], ["eval"], ["verify"], ["show"], ["export"], ["report"], ["selftest"], ["db", "info"],
            ["db", "init"], ["tasks", "list"], ["tasks", "show"], ["tasks", "check"], []]


def help_of(command: list[str]) -> str:
    result = runner.invoke(app, [*command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_eval_help_shows_the_ray_extra_with_its_brackets():
    assert "pip install 'kernelwright[ray]'" in " ".join(help_of(["eval"]).split())


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_flags_have_no_value_placeholder(command):
    text = help_of(command)
    assert "<bool>" not in text
    for line in text.splitlines():
        if any(f"{flag} " in line for flag in ("--json", "--full", "--no-profile", "--version")):
            assert "<" not in line, line


def test_options_that_take_a_value_keep_it():
    assert "<int range>" in help_of(["run"]) and "<str>" in help_of(["run"])


def test_db_after_the_subcommand_reaches_db_info(tmp_path: Path):
    db = tmp_path / "own.db"
    with Store(db) as store:
        run = store.add(Run(kind="run", config={}))
    result = runner.invoke(app, ["db", "info", "--db", str(db)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert run.id in result.stdout
