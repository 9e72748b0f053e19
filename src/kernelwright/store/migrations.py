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


def run_meaning(db: Database) -> None:
    """Migration 4: what a run means lives in the schema, not in event payloads.

    A `samples` row per (run, task, sample) holds its status and outcome (backfilled from the first `task_done`
    event of each, as resume read them before); a verification names its purpose, the hash of the policy it ran
    under (the policy itself in `policies`) and the harness version; an LLM call keeps a hash of its prompt; a run
    keeps the active seconds of its earlier sessions, and an LLM call the reasoning the provider returned. UNIQUE indexes stand behind every resume key: a duplicate is
    an error, never a silent winner.
    """
    for statement in (
        """CREATE TABLE samples (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id),
            task_hash TEXT NOT NULL REFERENCES tasks(hash),
            sample INTEGER NOT NULL,
            status TEXT NOT NULL,
            best_candidate_id TEXT REFERENCES candidates(id),
            final_verification_id TEXT REFERENCES verifications(id),
            stop_reason TEXT,
            error TEXT,
            elapsed_s REAL NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX samples_by_key ON samples(run_id, task_hash, sample)",
        """CREATE TABLE policies (
            hash TEXT PRIMARY KEY,
            content TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "ALTER TABLE verifications ADD COLUMN purpose TEXT",
        "ALTER TABLE verifications ADD COLUMN policy_hash TEXT REFERENCES policies(hash)",
        "ALTER TABLE verifications ADD COLUMN harness_version TEXT",
        "ALTER TABLE llm_calls ADD COLUMN prompt_hash TEXT",
        "ALTER TABLE llm_calls ADD COLUMN reasoning TEXT",
        "ALTER TABLE runs ADD COLUMN active_s REAL NOT NULL DEFAULT 0",
    ):
        db.execute(statement)
    _unique(db, "llm_calls_resume", "llm_calls", "run_id, task_hash, sample, role, sequence",
            "error IS NULL AND sequence IS NOT NULL AND task_hash IS NOT NULL")
    db.execute("DROP INDEX IF EXISTS llm_calls_by_task")
    _unique(db, "candidates_resume", "candidates", "run_id, task_hash, sample, round")
    _backfill_samples(db)
    db.execute("""UPDATE verifications SET purpose = 'final' WHERE id IN (
        SELECT json_extract(payload, '$.verification_id') FROM events WHERE kind = 'final_verification')""")
    _unique(db, "verifications_final", "verifications", "candidate_id", "purpose = 'final'")


def _unique(db: Database, name: str, table: str, columns: str, where: str | None = None) -> None:
    """A UNIQUE index, or a StoreError naming the rows that already break it."""
    condition = f" WHERE {where}" if where else ""
    duplicates = db.execute(f"SELECT {columns}, count(*) FROM {table}{condition} GROUP BY {columns} "
                            "HAVING count(*) > 1 LIMIT 3").fetchall()
    if duplicates:
        raise StoreError(f"{table} holds rows that share a resume key ({columns}): {duplicates}; this database "
                         "was written by concurrent runs of the same run id, so which row counts is ambiguous. "
                         "Export what you need with `kernelwright export` and start a new database")
    db.execute(f"CREATE UNIQUE INDEX {name} ON {table}({columns}){condition}")


def _backfill_samples(db: Database) -> None:
    import json

    from .models import new_id

    seen: set[tuple[str, str, int]] = set()
    for run_id, payload in db.execute("SELECT run_id, payload FROM events WHERE kind = 'task_done' ORDER BY id"):
        data = json.loads(payload)
        outcome = data.get("outcome") or {}
        key = (run_id, data.get("task_hash") or outcome.get("task_hash"), int(data.get("sample", 0)))
        if key in seen or key[1] is None:
            continue  # the first one counts, as resume read them
        seen.add(key)
        final = db.execute("SELECT json_extract(payload, '$.verification_id') FROM events WHERE run_id = ? AND "
                           "kind = 'final_verification' AND json_extract(payload, '$.candidate_id') = ? ORDER BY id "
                           "DESC LIMIT 1", [run_id, outcome.get("best_candidate_id")]).fetchone()
        db.execute("INSERT INTO samples (id, run_id, task_hash, sample, status, best_candidate_id, "
                   "final_verification_id, stop_reason, error, elapsed_s, outcome, updated_at) "
                   "VALUES (?, ?, ?, ?, 'finished', ?, ?, ?, ?, ?, ?, ?)",
                   [new_id(), *key, outcome.get("best_candidate_id"), final[0] if final else None,
                    outcome.get("stop_reason"), outcome.get("error"), float(outcome.get("wall_s") or 0.0),
                    json.dumps(outcome), utc_now()])


def kernel_memory(db: Database) -> None:
    """Migration 5: the kernel memory, one verified winner per candidate, kept across runs."""
    for statement in (
        """CREATE TABLE memory (
            id TEXT PRIMARY KEY,
            candidate_id TEXT NOT NULL REFERENCES candidates(id),
            run_id TEXT NOT NULL REFERENCES runs(id),
            task_hash TEXT NOT NULL REFERENCES tasks(hash),
            task TEXT NOT NULL,
            signature TEXT NOT NULL DEFAULT '{}',
            source TEXT NOT NULL,
            backend TEXT NOT NULL,
            device TEXT,
            speedup_eager REAL NOT NULL,
            ci_low REAL,
            ci_high REAL,
            verification_id TEXT NOT NULL REFERENCES verifications(id),
            created_at TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX memory_by_candidate ON memory(candidate_id)",
        "CREATE INDEX memory_by_backend ON memory(backend, created_at)",
    ):
        db.execute(statement)


def search(db: Database) -> None:
    """Migration 6: search strategies. A candidate's optimisation hint and inspirations; the evolve program database."""
    db.execute("ALTER TABLE candidates ADD COLUMN hint TEXT")
    db.execute("ALTER TABLE candidates ADD COLUMN inspiration_ids TEXT NOT NULL DEFAULT '[]'")
    db.execute("""CREATE TABLE programs (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        task_hash TEXT NOT NULL REFERENCES tasks(hash),
        candidate_id TEXT NOT NULL REFERENCES candidates(id),
        sample INTEGER NOT NULL,
        round INTEGER NOT NULL,
        speedup_eager REAL NOT NULL,
        bound TEXT NOT NULL,
        hint TEXT NOT NULL,
        cell TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""")
    db.execute("CREATE UNIQUE INDEX programs_by_candidate ON programs(candidate_id)")
    db.execute("CREATE INDEX programs_by_task ON programs(run_id, task_hash)")


MIGRATIONS: tuple[Migration, ...] = (initial_schema, agent_links, samples, run_meaning, kernel_memory, search)
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
