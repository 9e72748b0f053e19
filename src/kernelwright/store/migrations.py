"""Versioned schema migrations: migration N sets `PRAGMA user_version` to N."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlite_utils import Database

from .errors import StoreError
from .models import utc_now

Migration = Callable[[Database], None]

_INITIAL = (
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        environment TEXT,
        finished_at TEXT,
        note TEXT
    )""",
    """CREATE TABLE tasks (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        level INTEGER,
        path TEXT,
        source TEXT NOT NULL,
        declarations TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE candidates (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        task_hash TEXT NOT NULL REFERENCES tasks(hash),
        parent_id TEXT REFERENCES candidates(id),
        round INTEGER NOT NULL,
        origin TEXT NOT NULL,
        backend TEXT NOT NULL,
        source TEXT NOT NULL,
        source_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX candidates_by_run ON candidates(run_id)",
    "CREATE INDEX candidates_by_task ON candidates(task_hash)",
    "CREATE INDEX candidates_by_parent ON candidates(parent_id)",
    """CREATE TABLE builds (
        id TEXT PRIMARY KEY,
        candidate_id TEXT NOT NULL REFERENCES candidates(id),
        source_hash TEXT NOT NULL,
        backend TEXT NOT NULL,
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        cached INTEGER NOT NULL CHECK (cached IN (0, 1)),
        seconds REAL NOT NULL,
        command TEXT NOT NULL,
        log TEXT NOT NULL,
        ptxas TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX builds_by_candidate ON builds(candidate_id)",
    "CREATE INDEX builds_by_source_hash ON builds(source_hash)",
    """CREATE TABLE verifications (
        id TEXT PRIMARY KEY,
        candidate_id TEXT NOT NULL REFERENCES candidates(id),
        verdict TEXT NOT NULL,
        reason TEXT,
        evidence TEXT NOT NULL DEFAULT '{}',
        seed INTEGER,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX verifications_by_candidate ON verifications(candidate_id)",
    """CREATE TABLE timings (
        id TEXT PRIMARY KEY,
        run_id TEXT REFERENCES runs(id),
        task_hash TEXT REFERENCES tasks(hash),
        candidate_id TEXT REFERENCES candidates(id),
        verification_id TEXT REFERENCES verifications(id),
        subject TEXT NOT NULL,
        unit TEXT NOT NULL,
        samples TEXT NOT NULL DEFAULT '[]',
        median REAL NOT NULL,
        iqr REAL NOT NULL,
        n INTEGER NOT NULL,
        environment TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX timings_by_candidate ON timings(candidate_id)",
    "CREATE INDEX timings_by_verification ON timings(verification_id)",
    "CREATE INDEX timings_by_task ON timings(task_hash, subject)",
    """CREATE TABLE profiles (
        id TEXT PRIMARY KEY,
        candidate_id TEXT NOT NULL REFERENCES candidates(id),
        tool TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        raw TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX profiles_by_candidate ON profiles(candidate_id)",
    """CREATE TABLE llm_calls (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        role TEXT NOT NULL,
        model TEXT NOT NULL,
        messages TEXT NOT NULL DEFAULT '[]',
        response TEXT NOT NULL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        cost_usd REAL,
        latency_s REAL NOT NULL,
        retries INTEGER NOT NULL,
        error TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX llm_calls_by_run ON llm_calls(run_id)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id),
        created_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_by_run ON events(run_id, id)",
)


def initial_schema(db: Database) -> None:
    """Migration 1: every table, foreign key and index of the first release."""
    for statement in _INITIAL:
        db.execute(statement)


def agent_links(db: Database) -> None:
    """Migration 2: what the agent loop links together.

    An LLM call names its task, round, purpose and the candidate it read; a candidate names the Coder call
    that wrote it and the Judge call whose advice it followed; a profile names its task and whether it fell back.
    """
    for statement in (
        "ALTER TABLE llm_calls ADD COLUMN task_hash TEXT",
        "ALTER TABLE llm_calls ADD COLUMN round INTEGER",
        "ALTER TABLE llm_calls ADD COLUMN purpose TEXT",
        "ALTER TABLE llm_calls ADD COLUMN subject_id TEXT",
        "ALTER TABLE llm_calls ADD COLUMN sequence INTEGER",
        "CREATE INDEX llm_calls_by_task ON llm_calls(run_id, task_hash, role, sequence)",
        "ALTER TABLE candidates ADD COLUMN llm_call_id TEXT",
        "ALTER TABLE candidates ADD COLUMN judge_call_id TEXT",
        "ALTER TABLE profiles ADD COLUMN fallback TEXT",
    ):
        db.execute(statement)


def samples(db: Database) -> None:
    """Migration 3: an evaluation runs K independent samples of a task; candidates and LLM calls name theirs."""
    for statement in (
        "ALTER TABLE candidates ADD COLUMN sample INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE llm_calls ADD COLUMN sample INTEGER NOT NULL DEFAULT 0",
    ):
        db.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (initial_schema, agent_links, samples)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(db: Database) -> int:
    """The version recorded in `PRAGMA user_version` (0 for a blank database)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check_supported(version: int, where: str, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Raise StoreError when a database is newer than this code understands."""
    if version > len(migrations):
        raise StoreError(
            f"{where} has schema version {version} but this kernelwright knows only up to "
            f"{len(migrations)}; upgrade kernelwright or pass --db with another path"
        )


def applied_migrations(db: Database) -> list[dict]:
    """Rows of the `_migrations` log, oldest first."""
    if "_migrations" not in db.table_names():
        return []
    return list(db["_migrations"].rows_where(order_by="version"))


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS, where: str = "database") -> list[int]:
    """Apply pending migrations, each in its own IMMEDIATE transaction; return the versions applied.

    Re-reading the version inside each transaction makes concurrent openers safe.
    """
    applied: list[int] = []
    for version, migration in enumerate(migrations, start=1):
        db.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(db)
            check_supported(current, where, migrations)
            if current >= version:
                db.execute("ROLLBACK")
                continue
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            migration(db)
            db.execute(
                "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
                [version, migration.__name__, utc_now()],
            )
            db.execute(f"PRAGMA user_version = {int(version)}")
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
