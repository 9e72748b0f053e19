"""Read-only checks that a file is a kernelwright database before anything writes to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"
APPLICATION_ID = 0x4B575254  # b"KWRT"
_ADVICE = "move it aside or pass --db with another path"


@dataclass(frozen=True)
class Probe:
    """What a path holds: nothing yet, an SQLite file with no schema, or a kernelwright database."""

    state: Literal["missing", "empty", "blank", "ours"]
    user_version: int = 0


def readonly_uri(path: Path) -> str:
    """The sqlite URI that opens path read-only."""
    return path.resolve().as_uri() + "?mode=ro"


def corrupt(path: Path, detail: str) -> StoreError:
    return StoreError(f"{path} is corrupt: {detail}; {_ADVICE}")


@contextmanager
def _read_only(path: Path, busy_timeout_s: float) -> Iterator[sqlite3.Connection]:
    """A read-only connection to path; an sqlite error opening or reading it is raised as StoreError."""
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=busy_timeout_s)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {path}: {e}") from e
    try:
        yield conn
    except sqlite3.OperationalError as e:
        raise StoreError(f"cannot read {path}: {e}") from e
    except sqlite3.DatabaseError as e:
        raise corrupt(path, str(e)) from e
    finally:
        conn.close()


def _check_header(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise corrupt(path, "not an SQLite file (bad header)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise corrupt(path, f"bad page size {page_size} in header")
    pages = int.from_bytes(header[28:32], "big")
    size_is_valid = pages > 0 and header[24:28] == header[92:96]
    wal = Path(f"{path}-wal")
    wal_pending = wal.exists() and wal.stat().st_size > 0
    # with frames pending in the WAL the main file may legitimately lag the header
    if size_is_valid and not wal_pending and size < pages * page_size:
        raise corrupt(path, f"truncated ({size} bytes, header says {pages * page_size})")


def probe(path: Path, busy_timeout_s: float = 10.0) -> Probe:
    """Classify path without writing to it; raise StoreError for corrupt or foreign files."""
    try:
        if not path.exists():
            return Probe("missing")
        if not path.is_file():
            raise StoreError(f"{path} is not a regular file; pass --db with another path")
        if path.stat().st_size == 0:
            return Probe("empty")
        _check_header(path)
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e}") from e
    with _read_only(path, busy_timeout_s) as conn:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == APPLICATION_ID:
        return Probe("ours", user_version)
    if app_id == 0 and objects == 0 and user_version == 0:
        return Probe("blank")
    if app_id != 0:
        what = f"its application_id is {app_id:#010x}"
    elif objects:
        what = "it holds other tables"
    else:
        what = f"its user_version is {user_version}"
    raise StoreError(f"{path} is not a kernelwright database ({what}); pass --db with another path")


def check_integrity(path: Path, busy_timeout_s: float = 10.0) -> None:
    """`PRAGMA quick_check` read-only: a file whose pages are damaged is reported before anything writes to it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with _read_only(path, busy_timeout_s) as conn:
        found = [row[0] for row in conn.execute("PRAGMA quick_check(1)")]
    if found != ["ok"]:
        detail = " ".join(" ".join(found).replace("*** in database main ***", "").split())
        raise corrupt(path, f"damaged pages ({detail})")
