from pathlib import Path

from typer.testing import CliRunner

from kernelwright.cli import app
from kernelwright.store import LATEST_VERSION, Run, Store

runner = CliRunner()


def test_init_then_info_shows_tables_and_runs(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    assert runner.invoke(app, ["--db", str(db), "db", "init"]).exit_code == 0
    with Store(db) as store:
        run = store.add(Run(kind="run", config={"rounds": 3}))
    result = runner.invoke(app, ["--db", str(db), "db", "info"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"schema version {LATEST_VERSION}" in result.stdout
    assert run.id in result.stdout and "candidates" in result.stdout


def test_db_path_comes_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    result = runner.invoke(app, ["db", "init"], env={"KERNELWRIGHT_DB": str(db)})
    assert result.exit_code == 0 and db.exists()


def test_info_on_a_missing_database_says_how_to_create_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", str(tmp_path / "none.db"), "db", "info"])
    assert result.exit_code == 2
    assert "create it with `kernelwright db init`" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_corrupt_database_is_one_line_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "bad.db"
    db.write_bytes(b"definitely not sqlite" * 100)
    before = db.read_bytes()
    for command in (["db", "init"], ["db", "info"]):
        result = runner.invoke(app, ["--db", str(db), *command])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "is corrupt" in result.stderr
    assert db.read_bytes() == before


def test_every_store_command_takes_db_itself_and_it_wins(tmp_path: Path) -> None:
    own, other = tmp_path / "own.db", tmp_path / "other.db"
    result = runner.invoke(app, ["--db", str(other), "db", "init", "--db", str(own)],
                           env={"KERNELWRIGHT_DB": str(other)})
    assert result.exit_code == 0, result.output
    assert own.exists() and not other.exists()
    with Store(own) as store:
        run = store.add(Run(kind="run", config={"rounds": 1}))
    shown = runner.invoke(app, ["show", run.id, "--db", str(own), "--json"], env={"KERNELWRIGHT_DB": str(other)})
    assert shown.exit_code == 0, shown.output
    assert run.id in shown.stdout and not other.exists()
    for command in (["run"], ["eval"], ["export"], ["report"], ["verify"], ["db", "info"]):
        text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "--db" in text, command


def test_init_reports_damaged_pages_as_info_does(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "damaged.db"
    with Store(db) as store:
        for _ in range(200):
            store.add(Run(kind="run", config={"filler": "x" * 500}))
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    middle = len(data) // page * 3 // 4  # among the runs rows, written after the schema
    data[middle * page:(middle + 3) * page] = b"\xff" * 3 * page  # the header stays valid, table pages do not
    db.write_bytes(bytes(data))
    for command in (["db", "info"], ["db", "init"]):
        result = runner.invoke(app, ["--db", str(db), *command])
        assert result.exit_code == 2, (command, result.output)
        assert result.stderr.count("\n") == 1 and "is corrupt" in result.stderr, command
    assert db.read_bytes() == bytes(data)
