"""The kernel memory: winners kept across runs, the most similar shown to seed prompts, never a run's own tasks'."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kernelwright.agents.loop import LoopConfig
from kernelwright.agents.memory import retrieve
from kernelwright.agents.runner import RunConfig, Runner
from kernelwright.cli import app
from kernelwright.cli.memory_cmd import prunable
from kernelwright.llm import CallContext, Completion, Message
from kernelwright.llm.recording import RecordingModel
from kernelwright.store import MemoryEntry, Run, Store, utc_now
from kernelwright.tasks import load_task
from kernelwright.tasks.signature import reference_ops, similarity, task_signature
from kernelwright.verify.record import task_record

from test_runner import SOURCE, TASK, Executor, result

TASKS = Path(__file__).resolve().parents[2] / "tasks"
LINEAR_GELU = load_task(TASKS / "level2" / "1_linear_bias_gelu.py")
SOFTMAX = load_task(TASKS / "level1" / "6_softmax.py")


class Asking:
    spec = "test/model"

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        return Completion(text=SOURCE, model="m", input_tokens=1, output_tokens=1, cost_usd=0.0)


def winner(store: Store, task, marker: str, speedup: float, created_at: str | None = None) -> MemoryEntry:
    """A stored winner of `task` whose kernel carries `marker`."""
    from kernelwright.store import Candidate, Verification

    store.upsert_task(task_record(task))
    run = store.add(Run(kind="eval"))
    candidate = store.add(Candidate(run_id=run.id, task_hash=task.hash, origin="coder:seed", source=marker))
    verification = store.add(Verification(candidate_id=candidate.id, verdict="PASS"))
    entry = MemoryEntry(candidate_id=candidate.id, run_id=run.id, task_hash=task.hash, task=task.ref,
                        signature=task_signature(task), source=f"# {marker}\n", backend="cpu",
                        speedup_eager=speedup, verification_id=verification.id)
    if created_at is not None:
        entry.created_at = created_at
    return store.put_memory(entry)


def test_signatures_name_what_a_reference_computes() -> None:
    assert "gelu" in reference_ops(TASK.source) and "softmax" in reference_ops(SOFTMAX.source)
    assert {"gelu", "linear"} <= reference_ops(LINEAR_GELU.source) or {"gelu", "matmul"} <= reference_ops(LINEAR_GELU.source)
    gelu, linear_gelu, softmax = (task_signature(t) for t in (TASK, LINEAR_GELU, SOFTMAX))
    assert similarity(gelu, linear_gelu) > similarity(gelu, softmax)


def test_a_run_keeps_its_counted_winners(tmp_path: Path) -> None:
    with Store(tmp_path / "kw.db") as store:
        config = RunConfig(tasks=[], model="test/model", device="cpu", loop=LoopConfig(rounds=1), profile=False,
                           sanitize=False)
        runner = Runner.start(store, config, coder=Asking(), judge=Asking(), hardware={"device": "cpu"},
                              executor=Executor(result("PASS", 2.0, "PERF_VALID"), result("PASS", 1.8, "PERF_VALID")))
        runner.execute([TASK])
        [entry] = store.memory()
        assert (entry.task, entry.speedup_eager, entry.backend) == (TASK.ref, 1.8, "cpu")  # the final re-timing's
        assert "gelu" in entry.signature["ops"]
        runner = Runner.start(store, config, coder=Asking(), judge=Asking(), hardware={"device": "cpu"},
                              executor=Executor(result("INCORRECT"), result("INCORRECT")))
        runner.execute([TASK])
        assert len(store.memory()) == 1  # a wrong kernel is no winner


def seed_prompt(store: Store, config: RunConfig, task) -> str:
    runner = Runner.start(store, config, kind="eval", coder=RecordingModel(Asking(), store),
                          judge=RecordingModel(Asking(), store), hardware={"device": "cpu"},
                          executor=Executor(result("INCORRECT"), result("INCORRECT")))
    runner.execute([task])
    seed = next(c for c in store.llm_calls(run_id=runner.run.id) if c.purpose == "seed")
    return seed.messages[-1]["content"]


def test_an_eval_never_sees_its_own_tasks_winners(tmp_path: Path) -> None:
    with Store(tmp_path / "kw.db") as store:
        winner(store, TASK, "OWN-GELU-WINNER", 3.0)
        winner(store, LINEAR_GELU, "LINEAR-GELU-WINNER", 2.0)
        winner(store, SOFTMAX, "SOFTMAX-WINNER", 5.0)  # shares no operator with gelu: not shown
        winner(store, LINEAR_GELU, "FROM-THE-FUTURE", 9.0, created_at="9999-01-01T00:00:00+00:00")
        config = RunConfig(tasks=[], model="test/model", device="cpu", loop=LoopConfig(rounds=1), profile=False,
                           sanitize=False)
        prompt = seed_prompt(store, config, TASK)
        assert "LINEAR-GELU-WINNER" in prompt and "2.00x" in prompt
        assert "OWN-GELU-WINNER" not in prompt and "SOFTMAX-WINNER" not in prompt and "FROM-THE-FUTURE" not in prompt
        same = seed_prompt(store, config.model_copy(update={"memory_same_task": True}), TASK)
        assert "OWN-GELU-WINNER" in same
        none = seed_prompt(store, config.model_copy(update={"memory": False}), TASK)
        assert "WINNER" not in none and "won on similar tasks" not in none


def test_retrieval_excludes_and_ranks(tmp_path: Path) -> None:
    with Store(tmp_path / "kw.db") as store:
        winner(store, LINEAR_GELU, "SLOW", 1.2)
        winner(store, LINEAR_GELU, "FAST", 2.4)
        now = utc_now()
        [example] = retrieve(store, TASK, "cpu", before=now, exclude=set())  # one winner per task
        assert example.source.startswith("# FAST") and example.shared_ops == ["gelu"]
        assert retrieve(store, TASK, "cpu", before=now, exclude={LINEAR_GELU.hash}) == []
        assert retrieve(store, TASK, "cuda", before=now, exclude=set()) == []


def test_memory_cli_lists_shows_and_prunes(tmp_path: Path) -> None:
    db = tmp_path / "kw.db"
    with Store(db) as store:
        keep = winner(store, LINEAR_GELU, "KEEP", 2.0)
        winner(store, LINEAR_GELU, "SLOWER-THAN-EAGER", 0.8)
        winner(store, SOFTMAX, "SOFTMAX", 3.0)
    runner = CliRunner()
    listed = runner.invoke(app, ["--db", str(db), "memory", "list"])
    assert listed.exit_code == 0 and "3 entries" in listed.output
    only = runner.invoke(app, ["--db", str(db), "memory", "list", "--task", LINEAR_GELU.ref])
    assert only.exit_code == 0 and "2 entries" in only.output
    shown = runner.invoke(app, ["--db", str(db), "memory", "show", keep.id])
    assert shown.exit_code == 0 and "# KEEP" in shown.output and "2.00x" in shown.output
    assert runner.invoke(app, ["--db", str(db), "memory", "show", "nope"]).exit_code != 0
    dry = runner.invoke(app, ["--db", str(db), "memory", "prune", "--dry-run"])
    assert "would drop 1 entry" in dry.output
    with Store(db, readonly=True) as store:
        assert len(store.memory()) == 3
        assert [e.source for e in prunable(store.memory(), 1.0, 3)] == ["# SLOWER-THAN-EAGER\n"]
    pruned = runner.invoke(app, ["--db", str(db), "memory", "prune"])
    assert pruned.exit_code == 0 and "dropped 1 entry" in pruned.output
    with Store(db, readonly=True) as store:
        assert sorted(e.source for e in store.memory()) == ["# KEEP\n", "# SOFTMAX\n"]
