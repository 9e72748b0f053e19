"""`Store`: the project's one SQLite database, opened safely and queried with typed records."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from . import migrations
from .errors import StoreError
from .guard import APPLICATION_ID, Probe, corrupt, probe, readonly_uri
from .models import (
    RECORD_TYPES, Build, Candidate, Event, LLMCall, MemoryEntry, PolicyRecord, Profile, Program, Record, Role, Run, RunStatus,
    SampleRecord, TaskRecord, Timing, Verification, utc_now,
)
from .rows import from_row, to_row

R = TypeVar("R", bound=Record)
KEY = ("run_id", "task_hash", "sample")  # a sample row's unique key

DEFAULT_DB = Path("runs") / "kernelwright.db"
ENV_VAR = "KERNELWRIGHT_DB"


def default_db_path() -> Path:
    """`$KERNELWRIGHT_DB` if set, else `runs/kernelwright.db` (relative to the current directory)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DB)


class Store:
    """One kernelwright SQLite database (WAL mode), checked before any write and migrated on open.

    `readonly=True` opens with `mode=ro` for viewers of a database another process writes.
    Every failure surfaces as StoreError. Safe to share between threads.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, readonly: bool = False,
                 busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.readonly = readonly
        self._lock = threading.RLock()
        self._db: Database | None = None
        found = probe(self.path, busy_timeout_s)
        migrations.check_supported(found.user_version, str(self.path))
        if readonly:
            self._db = self._open_readonly(found, busy_timeout_s)
        else:
            self._db = self._open_writable(found, busy_timeout_s)

    def _connect(self, target: str, busy_timeout_s: float, readonly: bool) -> Database:
        conn = sqlite3.connect(target, uri=readonly, timeout=busy_timeout_s, check_same_thread=False)
        try:
            db = Database(conn)
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            db.execute("PRAGMA foreign_keys = ON")
            if readonly:
                db.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return db

    def _open_readonly(self, found: Probe, busy_timeout_s: float) -> Database:
        if found.state in ("missing", "empty"):
            raise StoreError(f"{self.path} does not exist yet; create it with `kernelwright db init`")
        if found.user_version < migrations.LATEST_VERSION:
            raise StoreError(
                f"{self.path} has schema version {found.user_version}, older than "
                f"{migrations.LATEST_VERSION}; migrate it with: kernelwright --db {self.path} db init"
            )
        with self._errors("open"):
            return self._connect(readonly_uri(self.path), busy_timeout_s, readonly=True)

    def _open_writable(self, found: Probe, busy_timeout_s: float) -> Database:
        if found.state == "missing":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create {self.path.parent}: {e}") from e
        with self._errors("open"):
            db = self._connect(str(self.path), busy_timeout_s, readonly=False)
            try:
                if db.execute("PRAGMA journal_mode = wal").fetchone()[0] != "wal":
                    raise StoreError(f"{self.path} cannot use WAL mode (is it on a network filesystem?)")
                if found.state != "ours":
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                migrations.migrate(db, where=str(self.path))
            except BaseException:
                db.close()
                raise
        return db

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except sqlite3.OperationalError as e:
            raise StoreError(f"{self.path}: {action} failed: {e}") from e
        except sqlite3.IntegrityError as e:
            raise StoreError(f"{self.path}: {action} rejected: {e}") from e
        except sqlite3.DatabaseError as e:
            if type(e) is sqlite3.DatabaseError:
                raise corrupt(self.path, str(e)) from e
            raise StoreError(f"{self.path}: {action} failed: {e}") from e
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: {action} failed: {e}") from e

    @contextmanager
    def _op(self, action: str, write: bool = False) -> Iterator[Database]:
        if write and self.readonly:
            raise StoreError(f"{self.path} is open read-only; cannot {action}")
        with self._lock, self._errors(action):
            if self._db is None:
                raise StoreError(f"{self.path} is closed")
            yield self._db

    def close(self) -> None:
        """Close the connection (checkpointing the WAL if this was the last writer)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}{', readonly=True' if self.readonly else ''})"

    @property
    def schema_version(self) -> int:
        with self._op("read schema version") as db:
            return migrations.schema_version(db)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Group writes atomically; nested blocks become savepoints."""
        with self._op("write transaction", write=True) as db, db.atomic():
            yield self

    def add(self, record: R) -> R:
        """Insert record into its table and return it (an Event gets its database id)."""
        row = to_row(record)
        if isinstance(record, Event) and record.id is None:
            row.pop("id")
        with self._op(f"add {type(record).__name__}", write=True) as db:
            table = db[record.table_name].insert(row, pk=record.primary_key)
            if isinstance(record, Event) and record.id is None:
                record.id = table.last_rowid
        return record

    def upsert_task(self, task: TaskRecord) -> TaskRecord:
        """Insert a task, or refresh name/level/path/source/declarations of one with the same hash."""
        with self._op("upsert task", write=True) as db:
            db[TaskRecord.table_name].upsert(to_row(task), pk=TaskRecord.primary_key)
        return task

    def get(self, cls: type[R], key: str | int) -> R | None:
        """The record of type cls with primary key `key`, or None."""
        with self._op(f"get {cls.__name__}") as db:
            try:
                row = db[cls.table_name].get(key)
            except NotFoundError:
                return None
        return from_row(cls, row)

    def _select(self, cls: type[R], order_by: str = "rowid", after_id: int | None = None,
                of_run: str | None = None, **filters: Any) -> list[R]:
        clauses: list[str] = []
        args: list[Any] = []
        if after_id is not None:
            clauses.append("id > ?")
            args.append(after_id)
        if of_run is not None:  # rows of any of the run's candidates, in one query
            clauses.append("candidate_id IN (SELECT id FROM candidates WHERE run_id = ?)")
            args.append(of_run)
        for name, value in filters.items():
            if name not in cls.model_fields:
                raise StoreError(f"{cls.__name__} has no field {name!r}")
            if value is not None:
                clauses.append(f"[{name}] = ?")
                args.append(value)
        with self._op(f"list {cls.table_name}") as db:
            rows = list(db[cls.table_name].rows_where(" AND ".join(clauses) or None, args, order_by=order_by))
        return [from_row(cls, row) for row in rows]

    def runs(self, kind: str | None = None, status: RunStatus | None = None) -> list[Run]:
        return self._select(Run, kind=kind, status=status)

    def tasks(self) -> list[TaskRecord]:
        return self._select(TaskRecord)

    def candidates(self, run_id: str | None = None, task_hash: str | None = None) -> list[Candidate]:
        return self._select(Candidate, run_id=run_id, task_hash=task_hash)

    def builds(self, candidate_id: str | None = None, source_hash: str | None = None,
               run_id: str | None = None) -> list[Build]:
        """Builds of a candidate, a source, or (`run_id`) of every candidate of a run."""
        return self._select(Build, of_run=run_id, candidate_id=candidate_id, source_hash=source_hash)

    def verifications(self, candidate_id: str | None = None, run_id: str | None = None) -> list[Verification]:
        """Verifications of a candidate, or (`run_id`) of every candidate of a run, oldest first."""
        return self._select(Verification, of_run=run_id, candidate_id=candidate_id)

    def timings(self, candidate_id: str | None = None, verification_id: str | None = None,
                task_hash: str | None = None, run_id: str | None = None,
                subject: str | None = None) -> list[Timing]:
        return self._select(Timing, candidate_id=candidate_id, verification_id=verification_id,
                            task_hash=task_hash, run_id=run_id, subject=subject)

    def profiles(self, candidate_id: str | None = None, run_id: str | None = None) -> list[Profile]:
        return self._select(Profile, of_run=run_id, candidate_id=candidate_id)

    def llm_calls(self, run_id: str | None = None, task_hash: str | None = None,
                  sample: int | None = None) -> list[LLMCall]:
        return self._select(LLMCall, run_id=run_id, task_hash=task_hash, sample=sample)

    def llm_call_heads(self, run_id: str, responses_of: Role | None = "judge") -> list[LLMCall]:
        """A run's calls oldest first without their prompts (`messages` left empty), and with the response only
        of `responses_of`'s calls (others ""): what a view of a run shows of them, at a fraction of the rows."""
        columns = [f"[{name}]" for name in LLMCall.model_fields if name not in ("messages", "response")]
        query = (f"SELECT {', '.join(columns)}, CASE WHEN role = ? THEN response ELSE '' END AS response "
                 "FROM llm_calls WHERE run_id = ? ORDER BY rowid")
        with self._op("list llm_calls") as db:
            cursor = db.execute(query, [responses_of, run_id])
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [from_row(LLMCall, row) for row in rows]

    def llm_totals(self, run_id: str, task_hash: str | None = None, sample: int | None = None) -> dict[str, Any]:
        """Calls, tokens in and out, and dollars of a run (or one task / sample of it), summed in SQL: a run's
        prompts are large, and budgets and outcomes need only these sums."""
        clauses, args = ["run_id = ?"], [run_id]
        for name, value in (("task_hash", task_hash), ("sample", sample)):
            if value is not None:
                clauses.append(f"{name} = ?")
                args.append(value)
        query = ("SELECT count(*), coalesce(sum(role = 'coder'), 0), coalesce(sum(tokens_in), 0), "
                 f"coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0.0) FROM llm_calls WHERE {' AND '.join(clauses)}")
        with self._op("sum llm_calls") as db:
            calls, coder_calls, tokens_in, tokens_out, cost = db.execute(query, args).fetchone()
        return {"llm_calls": calls, "coder_calls": coder_calls, "input_tokens": tokens_in, "output_tokens": tokens_out,
                "cost_usd": cost}

    def llm_totals_by_sample(self, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        """`llm_totals` of every (task_hash, sample) of a run at once, with the first and last call's times."""
        query = ("SELECT task_hash, sample, count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), "
                 "coalesce(sum(cost_usd), 0.0), min(created_at), max(created_at) FROM llm_calls "
                 "WHERE run_id = ? AND task_hash IS NOT NULL GROUP BY task_hash, sample")
        with self._op("sum llm_calls") as db:
            rows = db.execute(query, [run_id]).fetchall()
        return {(task_hash, sample): {"llm_calls": calls, "input_tokens": tokens_in, "output_tokens": tokens_out,
                                      "cost_usd": cost, "first_at": first, "last_at": last}
                for task_hash, sample, calls, tokens_in, tokens_out, cost, first, last in rows}

    def events(self, run_id: str | None = None, kind: str | None = None, after_id: int = 0) -> list[Event]:
        """Events oldest first; `after_id` lets a viewer fetch only what is new."""
        return self._select(Event, order_by="id", after_id=after_id, run_id=run_id, kind=kind)

    def update_run(self, run_id: str, **fields: Any) -> Run:
        """Change fields of a run (e.g. status, finished_at, note) and return the updated run."""
        if "id" in fields:
            raise StoreError("a run's id cannot change")
        with self._lock:
            current = self.get(Run, run_id)
            if current is None:
                raise StoreError(f"{self.path} has no run {run_id!r}")
            try:
                updated = Run.model_validate({**current.model_dump(), **fields})
            except ValueError as e:
                raise StoreError(f"invalid update of run {run_id}: {e}") from e
            row = to_row(updated)
            if not fields:
                return updated
            with self._op("update run", write=True) as db:
                db[Run.table_name].update(run_id, {k: row[k] for k in fields})
        return updated

    def finish_run(self, run_id: str, status: RunStatus = "finished") -> Run:
        """Set a run's final status and stamp finished_at."""
        return self.update_run(run_id, status=status, finished_at=utc_now())

    def put_sample(self, record: SampleRecord) -> SampleRecord:
        """Insert or update the row of (run, task, sample); its id stays the first one's."""
        row = to_row(record)
        columns = [name for name in row if name != "id"]
        updates = ", ".join(f"[{name}] = excluded.[{name}]" for name in columns if name not in KEY)
        query = (f"INSERT INTO samples ({', '.join(f'[{n}]' for n in row)}) VALUES ({', '.join('?' for _ in row)}) "
                 f"ON CONFLICT(run_id, task_hash, sample) DO UPDATE SET {updates}")
        with self._op("put sample", write=True) as db:
            db.execute(query, list(row.values()))
        return record

    def samples(self, run_id: str, task_hash: str | None = None, sample: int | None = None) -> list[SampleRecord]:
        return self._select(SampleRecord, run_id=run_id, task_hash=task_hash, sample=sample)

    def put_policy(self, record: PolicyRecord) -> PolicyRecord:
        with self._op("put policy", write=True) as db:
            db[PolicyRecord.table_name].insert(to_row(record), pk=PolicyRecord.primary_key, ignore=True)
        return record

    def put_memory(self, entry: MemoryEntry) -> MemoryEntry:
        """Insert or replace the memory entry of a candidate (its final re-timing replaces its round's figure)."""
        with self._op("put memory", write=True) as db:
            db.execute("DELETE FROM memory WHERE candidate_id = ?", [entry.candidate_id])
            db[MemoryEntry.table_name].insert(to_row(entry), pk=MemoryEntry.primary_key)
        return entry

    def put_program(self, program: Program) -> None:
        """Add a candidate to its task's program database; a candidate already there (a resumed run) stays."""
        row = to_row(program)
        with self._op("put program", write=True) as db:
            db.execute(f"INSERT OR IGNORE INTO programs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                       list(row.values()))

    def programs(self, run_id: str, task_hash: str) -> list[Program]:
        return self._select(Program, order_by="rowid", run_id=run_id, task_hash=task_hash)

    def memory(self, backend: str | None = None, task_hash: str | None = None) -> list[MemoryEntry]:
        return self._select(MemoryEntry, order_by="created_at", backend=backend, task_hash=task_hash)

    def forget(self, entry_ids: list[str]) -> int:
        """Delete memory entries; returns how many there were."""
        with self._op("prune memory", write=True) as db:
            return sum(db.execute("DELETE FROM memory WHERE id = ?", [i]).rowcount for i in entry_ids)

    def add_active_seconds(self, run_id: str, seconds: float) -> None:
        """Add a session's running time to the run's, in SQL (several samples finish at once)."""
        with self._op("update run", write=True) as db:
            db.execute("UPDATE runs SET active_s = active_s + ? WHERE id = ?", [max(0.0, seconds), run_id])

    def counts(self) -> dict[str, int]:
        """Rows per record table."""
        with self._op("count rows") as db:
            return {cls.table_name: db[cls.table_name].count for cls in RECORD_TYPES}
