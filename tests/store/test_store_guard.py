import os
import sqlite3

import pytest

from kernelwright.store import APPLICATION_ID, Event, Run, Store, StoreError


def _real_db(path):
    with Store(path) as store:
        run = store.add(Run())
        with store.transaction():
            for i in range(200):
                store.add(Event(run_id=run.id, kind="step", payload={"text": "x" * 200, "i": i}))
    assert not os.path.exists(f"{path}-wal")  # closing the last connection checkpoints
    return path.read_bytes()


def _refused(path, match):
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(StoreError, match=match) as info:
            Store(path, readonly=readonly)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == before
    return str(info.value)


def test_random_bytes_are_refused_untouched(tmp_path):
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(8192))
    message = _refused(path, "is corrupt: not an SQLite file")
    assert "--db" in message


def test_text_file_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n")
    _refused(path, "is corrupt")


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01])
def test_truncated_copy_is_refused_untouched(tmp_path, fraction):
    data = _real_db(tmp_path / "real.db")
    path = tmp_path / "truncated.db"
    path.write_bytes(data[: int(len(data) * fraction)])
    _refused(path, "is corrupt")


def test_damaged_schema_page_is_refused_untouched(tmp_path):
    data = bytearray(_real_db(tmp_path / "real.db"))
    data[100:4096] = os.urandom(3996)  # page 1 after the header holds sqlite_master
    path = tmp_path / "damaged.db"
    path.write_bytes(bytes(data))
    _refused(path, "is corrupt")


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    conn.commit()
    conn.close()
    message = _refused(path, "is not a kernelwright database")
    assert "holds other tables" in message and "pass --db" in message


def test_foreign_application_id_is_refused_even_when_empty(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 42")
    conn.close()
    _refused(path, "application_id is 0x0000002a")


def test_foreign_wal_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    _refused(path, "not a kernelwright database")


def test_empty_file_is_initialised(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with Store(path) as store:
        assert store.schema_version >= 1
        store.add(Run())
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_blank_sqlite_file_is_adopted(tmp_path):
    path = tmp_path / "blank.db"
    sqlite3.connect(path).execute("VACUUM").connection.close()  # valid header, no tables
    assert path.stat().st_size > 0
    with Store(path) as store:
        assert store.counts()["runs"] == 0


def test_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="not a regular file"):
        Store(tmp_path)


def test_ours_reopens_and_keeps_data(tmp_path):
    path = tmp_path / "kw.db"
    _real_db(path)
    with Store(path) as store:
        assert store.counts()["events"] == 200
