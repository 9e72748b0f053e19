import json
import sqlite3
import subprocess
import sys
import textwrap

from kernelwright.store import LATEST_VERSION, Run, Store

WRITER = textwrap.dedent("""
    import sys, time, pathlib
    from kernelwright.store import Event, Run, Store
    db, sig = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    with Store(db) as store:
        run = store.add(Run())
        (sig / "started").touch()
        for i in range(150):
            with store.transaction():
                store.add(Event(run_id=run.id, kind="step", payload={"i": i}))
            time.sleep(0.003)
            if i == 75:
                with store.transaction():  # held open until the reader has looked
                    store.add(Event(run_id=run.id, kind="pending"))
                    (sig / "holding").touch()
                    deadline = time.time() + 20
                    while not (sig / "checked").exists():
                        if time.time() > deadline:
                            sys.exit("reader never checked")
                        time.sleep(0.002)
        print(store.counts()["events"])
    (sig / "done").touch()
""")

READER = textwrap.dedent("""
    import json, sys, time, pathlib
    from kernelwright.store import Store
    db, sig = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    deadline = time.time() + 20
    while not (sig / "started").exists():
        if time.time() > deadline:
            sys.exit("writer never started")
        time.sleep(0.002)
    seen, pending_while_held = [], None
    with Store(db, readonly=True) as store:
        while True:
            done = (sig / "done").exists()
            seen.append(store.counts()["events"])
            if pending_while_held is None and (sig / "holding").exists():
                pending_while_held = len(store.events(kind="pending"))
                (sig / "checked").touch()
            if done or time.time() > deadline:
                break
            time.sleep(0.002)
        pending_after = len(store.events(kind="pending"))
    print(json.dumps({"seen": seen, "pending_while_held": pending_while_held, "pending_after": pending_after}))
""")


def test_wal_mode_and_pragmas(tmp_path):
    path = tmp_path / "kw.db"
    with Store(path) as store:
        store.add(Run())
        db = store._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    with Store(path, readonly=True) as reader:
        assert reader._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reader_process_sees_commits_while_writer_process_writes(tmp_path):
    db, sig = tmp_path / "kw.db", tmp_path / "signals"
    sig.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(sig)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(sig)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    w_out, w_err = writer.communicate(timeout=60)
    r_out, r_err = reader.communicate(timeout=60)
    assert writer.returncode == 0, w_err
    assert reader.returncode == 0, r_err
    assert "locked" not in w_err + r_err
    result = json.loads(r_out)
    seen = result["seen"]
    assert seen == sorted(seen), "counts must never go backwards"
    assert len(set(seen)) >= 5, f"reader should watch the count grow, saw {sorted(set(seen))}"
    assert seen[-1] == int(w_out) == 151
    assert result["pending_while_held"] == 0  # uncommitted rows stay invisible
    assert result["pending_after"] == 1
    with Store(db) as store:
        assert store.counts()["events"] == 151


def test_processes_creating_the_same_database_at_once_migrate_it_once(tmp_path):
    db = tmp_path / "new" / "kw.db"
    script = "import sys; from kernelwright.store import Run, Store; Store(sys.argv[1]).add(Run())"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(db)], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    with Store(db) as store:
        assert store.counts()["runs"] == 4
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == LATEST_VERSION
    conn.close()


def test_threads_share_one_store(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from kernelwright.store import Event

    with Store(tmp_path / "kw.db") as store:
        run = store.add(Run())

        def write(worker):
            for i in range(50):
                store.add(Event(run_id=run.id, kind=f"w{worker}", payload={"i": i}))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(4)))
        assert store.counts()["events"] == 200
