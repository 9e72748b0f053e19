import sqlite3

import pytest

from kernelwright.store import (
    Build, Candidate, Environment, Event, LLMCall, Profile, Run, Store, StoreError, TaskRecord,
    Timing, Verification, content_hash, default_db_path, new_id,
)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "kw.db") as s:
        yield s


def _graph(store):
    run = store.add(Run(kind="eval", config={"model": "x", "rounds": 3, "nested": {"a": [1, 2.5]}},
                        environment=Environment(gpu_name="H100", gpu_count=1, torch_version="2.4"),
                        note="smoke"))
    task = store.upsert_task(TaskRecord(hash=content_hash("src"), name="matmul", level=1,
                                        path="tasks/l1/matmul.py", source="src",
                                        declarations={"atol": 1e-3, "shapes": [[4, 4]]}))
    seed = store.add(Candidate(run_id=run.id, task_hash=task.hash, round=0, origin="seed", source="a"))
    child = store.add(Candidate(run_id=run.id, task_hash=task.hash, parent_id=seed.id, round=1,
                                origin="repair", backend="cpu", source="b"))
    return run, task, seed, child


def test_every_model_round_trips(store):
    run, task, seed, child = _graph(store)
    verification = Verification(candidate_id=child.id, verdict="pass", evidence={"max_err": 1e-6, "ok": True},
                                seed=1234)
    records = [
        Build(candidate_id=child.id, source_hash=child.source_hash, ok=True, cached=False, seconds=12.5,
              command="nvcc -O3", log="ptxas info\n" * 3, ptxas="Used 32 registers, 0 bytes spill"),
        Build(candidate_id=seed.id, source_hash=seed.source_hash, ok=False, cached=True, seconds=0.0),
        verification,
        Verification(candidate_id=seed.id, verdict="wrong", reason="mismatch at [0, 3]"),
        Timing(candidate_id=child.id, verification_id=verification.id, subject="candidate",
               samples=[0.25, 0.5, 0.125], median=0.25, iqr=0.1875, n=3, environment={"gpu": "H100"}),
        Timing(run_id=run.id, task_hash=task.hash, subject="eager", samples=[1.0], median=1.0, iqr=0.0, n=1),
        Profile(candidate_id=child.id, tool="ncu", metrics={"sm__throughput": 91.5}, raw="==PROF=="),
        LLMCall(run_id=run.id, role="coder", model="m", messages=[{"role": "user", "content": "hi ☃"}],
                response="```cuda```", tokens_in=10, tokens_out=20, cost_usd=0.01, latency_s=1.5, retries=1),
        LLMCall(run_id=run.id, role="judge", model="m", error="timeout"),
    ]
    for record in records:
        assert store.add(record) is record
    for record in [run, task, seed, child, *records]:
        assert store.get(type(record), getattr(record, type(record).primary_key)) == record
    fetched = store.get(Build, records[1].id)
    assert fetched.ok is False and fetched.cached is True and fetched.ptxas is None
    assert store.get(Run, run.id).environment.gpu_name == "H100"
    assert store.get(Run, "missing") is None


def test_events_get_increasing_ids(store):
    run = store.add(Run())
    events = [store.add(Event(run_id=run.id, kind="step", payload={"i": i})) for i in range(3)]
    assert [e.id for e in events] == [1, 2, 3]
    assert store.events(run.id) == events
    assert store.events(run.id, after_id=2) == events[2:]
    assert store.events(run.id, kind="nope") == []
    assert store.get(Event, 2) == events[1]


def test_typed_queries_filter(store):
    run, task, seed, child = _graph(store)
    other = store.add(Run(kind="verify"))
    store.add(Candidate(run_id=other.id, task_hash=task.hash, origin="manual", source="c"))
    assert store.candidates(run_id=run.id) == [seed, child]
    assert len(store.candidates(task_hash=task.hash)) == 3
    assert store.candidates(run_id=run.id, task_hash="zzz") == []
    assert [r.id for r in store.runs()] == [run.id, other.id]
    assert store.runs(kind="verify") == [other]
    store.add(Timing(candidate_id=child.id, subject="candidate", median=1, iqr=0, n=1))
    store.add(Timing(task_hash=task.hash, subject="compiled", median=2, iqr=0, n=1))
    assert [t.subject for t in store.timings(task_hash=task.hash)] == ["compiled"]
    assert len(store.timings(candidate_id=child.id)) == 1
    assert store.verifications(child.id) == [] and store.llm_calls(run.id) == []
    assert store.counts() == {"runs": 2, "tasks": 1, "candidates": 3, "builds": 0, "verifications": 0,
                              "timings": 2, "profiles": 0, "llm_calls": 0, "events": 0,
                              "samples": 0, "policies": 0, "memory": 0, "programs": 0}


def test_upsert_task_replaces_by_hash(store):
    store.upsert_task(TaskRecord(hash="h", name="old", source="s"))
    store.upsert_task(TaskRecord(hash="h", name="new", level=2, source="s", declarations={"k": 1}))
    assert store.tasks() == [TaskRecord(hash="h", name="new", level=2, source="s", declarations={"k": 1})]


def test_update_and_finish_run(store):
    run = store.add(Run())
    updated = store.update_run(run.id, status="interrupted", note="ctrl-c")
    assert store.get(Run, run.id) == updated and updated.status == "interrupted"
    finished = store.finish_run(run.id, status="failed")
    assert finished.status == "failed" and finished.finished_at >= run.created_at
    with pytest.raises(StoreError, match="invalid update"):
        store.update_run(run.id, status="exploded")
    with pytest.raises(StoreError, match="no run"):
        store.update_run("nope", status="finished")


def test_constraint_violations_become_store_errors(store):
    run = store.add(Run())
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add(Candidate(run_id=run.id, task_hash="unknown", origin="seed", source="x"))
    with pytest.raises(StoreError, match="UNIQUE"):
        store.add(Run(id=run.id))


def test_transaction_rolls_back_on_error(store):
    run = store.add(Run())
    with pytest.raises(KeyError):
        with store.transaction():
            store.add(Event(run_id=run.id, kind="a"))
            raise KeyError("abort")
    with store.transaction():
        store.add(Event(run_id=run.id, kind="b"))
    assert [e.kind for e in store.events(run.id)] == ["b"]


def test_json_fields_tolerate_non_json_values(store):
    class Odd:
        def __repr__(self):
            return "<odd>"

    run = store.add(Run())
    store.add(Event(run_id=run.id, kind="k", payload={"t": (1, 2), "s": {3}, "o": Odd()}))
    assert store.events(run.id)[0].payload == {"t": [1, 2], "s": [3], "o": "<odd>"}


def test_readonly_store_reads_but_never_writes(tmp_path):
    path = tmp_path / "kw.db"
    with Store(path) as writer:
        run = writer.add(Run())
    with Store(path, readonly=True) as reader:
        assert reader.runs() == [run]
        with pytest.raises(StoreError, match="read-only"):
            reader.add(Run())
        with pytest.raises(StoreError, match="read-only"):
            reader.update_run(run.id, status="failed")
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def test_closed_store_raises(tmp_path):
    store = Store(tmp_path / "kw.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.runs()


def test_default_path_honours_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("KERNELWRIGHT_DB", raising=False)
    assert str(default_db_path()) == "runs/kernelwright.db"
    monkeypatch.setenv("KERNELWRIGHT_DB", str(tmp_path / "env.db"))
    assert default_db_path() == tmp_path / "env.db"
    with Store() as store:
        assert store.path == tmp_path / "env.db"
    assert sqlite3.connect(tmp_path / "env.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_ids_sort_by_creation():
    ids = [new_id() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000 and all(len(i) == 16 for i in ids)


def test_llm_totals_sum_a_run_a_task_and_a_sample(tmp_path):
    from kernelwright.store import LLMCall

    with Store(tmp_path / "kw.db") as store:
        run, other = store.add(Run()), store.add(Run())
        for task, sample, tokens_in, tokens_out, cost, role in (("a", 0, 100, 10, 0.5, "coder"),
                                                                ("a", 1, 200, 20, None, "judge"),
                                                                ("b", 0, 300, 30, 1.25, "coder")):
            store.add(LLMCall(run_id=run.id, role=role, model="m", task_hash=task, sample=sample,
                              tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost))
        store.add(LLMCall(run_id=other.id, role="judge", model="m", tokens_in=7, tokens_out=7, cost_usd=7.0))
        assert store.llm_totals(run.id) == {"llm_calls": 3, "coder_calls": 2, "input_tokens": 600, "output_tokens": 60,
                                            "cost_usd": 1.75}
        assert store.llm_totals(run.id, "a") == {"llm_calls": 2, "coder_calls": 1, "input_tokens": 300,
                                                 "output_tokens": 30, "cost_usd": 0.5}
        assert store.llm_totals(run.id, "a", 1) == {"llm_calls": 1, "coder_calls": 0, "input_tokens": 200,
                                                    "output_tokens": 20, "cost_usd": 0.0}
        assert store.llm_totals(run.id, "c") == {"llm_calls": 0, "coder_calls": 0, "input_tokens": 0,
                                                 "output_tokens": 0, "cost_usd": 0.0}
        assert [c.sample for c in store.llm_calls(run_id=run.id, task_hash="a", sample=1)] == [1]


def test_rows_of_a_runs_candidates_in_one_query(store):
    run, task, seed, child = _graph(store)
    other = store.add(Candidate(run_id=store.add(Run()).id, task_hash=task.hash, origin="manual", source="c"))
    first = store.add(Verification(candidate_id=child.id, verdict="PASS"))
    second = store.add(Verification(candidate_id=seed.id, verdict="INCORRECT"))
    third = store.add(Verification(candidate_id=child.id, verdict="PASS"))
    store.add(Verification(candidate_id=other.id, verdict="PASS"))
    build = store.add(Build(candidate_id=seed.id, source_hash="s", ok=True, seconds=1.0))
    store.add(Build(candidate_id=other.id, source_hash="s", ok=True, seconds=1.0))
    profile = store.add(Profile(candidate_id=child.id, tool="ncu"))
    store.add(Profile(candidate_id=other.id, tool="ncu"))
    assert store.verifications(run_id=run.id) == [first, second, third]  # oldest first, other runs left out
    assert store.verifications(candidate_id=child.id, run_id=run.id) == [first, third]
    assert store.builds(run_id=run.id) == [build] and store.profiles(run_id=run.id) == [profile]
    assert store.verifications(run_id="nope") == []


def test_llm_call_heads_leave_out_prompts_and_coder_replies(store):
    run, other = store.add(Run()), store.add(Run())
    coder = store.add(LLMCall(run_id=run.id, role="coder", model="m",
                              messages=[{"role": "user", "content": "x" * 1000}], response="```cuda```", tokens_in=10, tokens_out=20, cost_usd=0.01, latency_s=1.5,
                              retries=1, task_hash="t", round=2, purpose="repair", sample=1, sequence=3))
    judge = store.add(LLMCall(run_id=run.id, role="judge", model="m", messages=[{"role": "user", "content": "y"}],
                              response="advice", error="timeout", task_hash="t"))
    store.add(LLMCall(run_id=other.id, role="coder", model="m"))
    heads = store.llm_call_heads(run.id)
    assert heads == [coder.model_copy(update={"messages": [], "response": ""}),
                     judge.model_copy(update={"messages": []})]
    bare = {"messages": [], "response": ""}
    assert store.llm_call_heads(run.id, responses_of=None) == [coder.model_copy(update=bare),
                                                               judge.model_copy(update=bare)]
    assert store.llm_call_heads("nope") == []


def test_task_ref_names_the_level_when_there_is_one():
    assert TaskRecord(hash="h", name="relu", level=1, source="s").ref == "level1/relu"
    assert TaskRecord(hash="h", name="relu", level=0, source="s").ref == "level0/relu"
    assert TaskRecord(hash="h", name="relu", source="s").ref == "relu"
