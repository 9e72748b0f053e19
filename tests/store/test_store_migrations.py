import sqlite3

import pytest
from sqlite_utils import Database

from kernelwright.store import APPLICATION_ID, LATEST_VERSION, MIGRATIONS, Store, StoreError, migrate
from kernelwright.store.migrations import applied_migrations, schema_version

TABLES = {"runs", "tasks", "candidates", "builds", "verifications", "timings", "profiles", "llm_calls", "events"}


def test_fresh_database_has_all_tables_and_latest_version(tmp_path):
    path = tmp_path / "nested" / "dir" / "kw.db"
    with Store(path) as store:
        assert store.schema_version == LATEST_VERSION == len(MIGRATIONS)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES | {"_migrations"} <= tables
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"candidates_by_run", "candidates_by_task", "verifications_by_candidate",
            "llm_calls_by_run", "events_by_run"} <= indexes
    fks = {(r[2], r[3], r[4]) for r in conn.execute("PRAGMA foreign_key_list(candidates)")}
    assert ("runs", "run_id", "id") in fks and ("tasks", "task_hash", "hash") in fks
    conn.close()


def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "kw.db"
    Store(path).close()
    Store(path).close()
    with Store(path) as store:
        assert store.schema_version == LATEST_VERSION
    db = Database(path)
    log = applied_migrations(db)
    assert [row["version"] for row in log] == list(range(1, LATEST_VERSION + 1))
    assert log[0]["name"] == "initial_schema"
    assert migrate(db) == []
    db.close()


def _add_note_column(db):
    db.execute("ALTER TABLE runs ADD COLUMN extra TEXT")


def test_older_database_gets_only_the_missing_migration(tmp_path):
    db = Database(tmp_path / "kw.db")
    assert migrate(db, MIGRATIONS[:1]) == [1]  # a database written by the first release
    assert migrate(db, (*MIGRATIONS, _add_note_column)) == list(range(2, LATEST_VERSION + 2))
    assert migrate(db, (*MIGRATIONS, _add_note_column)) == []
    assert schema_version(db) == LATEST_VERSION + 1
    assert "extra" in db["runs"].columns_dict
    assert {"task_hash", "round", "purpose", "subject_id", "sequence"} <= set(db["llm_calls"].columns_dict)
    assert {"llm_call_id", "judge_call_id", "hint", "inspiration_ids"} <= set(db["candidates"].columns_dict)
    assert [r["name"] for r in applied_migrations(db)] == ["initial_schema", "agent_links", "samples", "run_meaning", "kernel_memory", "search",
                                                        "_add_note_column"]
    db.close()


def test_rows_written_before_a_migration_survive_it(tmp_path):
    db = Database(tmp_path / "kw.db")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # as the first release's Store wrote it
    migrate(db, MIGRATIONS[:1])
    db.execute("INSERT INTO runs (id, created_at, kind, status) VALUES ('r1', '2026-01-01', 'verify', 'finished')")
    db.conn.commit()
    migrate(db)
    db.close()
    with Store(tmp_path / "kw.db") as store:
        assert [run.id for run in store.runs()] == ["r1"]


def test_failing_migration_rolls_back_completely(tmp_path):
    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    db = Database(tmp_path / "kw.db")
    with pytest.raises(RuntimeError):
        migrate(db, (*MIGRATIONS, broken))
    assert schema_version(db) == LATEST_VERSION
    assert "half_done" not in db.table_names()
    assert not db.conn.in_transaction
    db.close()


def test_newer_schema_is_refused_without_touching_the_file(tmp_path):
    path = tmp_path / "kw.db"
    Store(path).close()
    conn = sqlite3.connect(path)  # as if newer code had migrated it further
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1} .* only up to {LATEST_VERSION}"):
        Store(path)
    with pytest.raises(StoreError, match="upgrade kernelwright"):
        Store(path, readonly=True)
    assert path.read_bytes() == before


def test_migrate_refuses_newer_database(tmp_path):
    db = Database(tmp_path / "kw.db")
    migrate(db, (*MIGRATIONS, _add_note_column))
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1}"):
        migrate(db, MIGRATIONS)
    assert not db.conn.in_transaction
    db.close()
