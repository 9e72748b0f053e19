"""Search strategies over a task's samples, with a model and executor that need no kernels (search_fakes)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernelwright.agents.budget import BudgetLimits
from kernelwright.agents.loop import LoopConfig
from kernelwright.agents.runner import RunConfig, Runner
from kernelwright.store import Run, Store

from search_fakes import SearchExecutor, SearchModel

ROOT = Path(__file__).resolve().parents[2]
TASKS = [str(ROOT / "tasks" / "level1" / name) for name in ("1_gelu.py", "6_softmax.py")]


def config(strategy: str, samples: int = 3, rounds: int = 3, **budget) -> RunConfig:
    return RunConfig(tasks=TASKS, model="test/search", device="cpu", profile=False, sanitize=False, samples=samples,
                     workers=2, strategy=strategy, beam=2, memory=False, budget=BudgetLimits(**budget),
                     loop=LoopConfig(rounds=rounds, plateau_rounds=99))  # type: ignore[arg-type]


def run(store: Store, cfg: RunConfig, model: SearchModel | None = None, resume: str | None = None):
    from kernelwright.agents.session import load_run_tasks

    from kernelwright.llm import RecordingModel

    model = RecordingModel(model or SearchModel(), store)
    kwargs = dict(coder=model, judge=model, hardware={"device": "cpu"}, executor=SearchExecutor())
    runner = Runner.resume(store, resume, cfg, **kwargs) if resume else Runner.start(store, cfg, kind="eval", **kwargs)
    return runner, runner.execute(load_run_tasks(cfg))


@pytest.mark.parametrize("strategy", ["chain", "beam", "evolve"])
def test_a_strategy_never_makes_more_coder_calls_than_its_budget(tmp_path, strategy):
    with Store(tmp_path / "kw.db") as store:
        runner, outcomes = run(store, config(strategy, max_coder_calls=7))
        coder = [c for c in store.llm_calls(run_id=runner.run.id) if c.role == "coder"]
        assert len(coder) == 7
        assert runner.budget.spent.coder_calls == 7
        assert any(o.stop_reason == "budget" for o in outcomes)
        assert store.get(Run, runner.run.id).status == "interrupted"  # unfinished: a larger budget resumes it


@pytest.mark.parametrize("strategy", ["beam", "evolve"])
def test_a_dollar_budget_starts_no_call_once_reached(tmp_path, strategy):
    with Store(tmp_path / "kw.db") as store:
        runner, _ = run(store, config(strategy, max_usd=0.045))
        calls = sorted(store.llm_calls(run_id=runner.run.id), key=lambda c: c.created_at)
        spent_before = [sum(c.cost_usd for c in calls[:i]) for i in range(len(calls))]
        # every call started while the spend was under the limit; only calls already in flight may cross it
        in_flight = runner.config.samples * len(runner.config.tasks)
        assert all(s < 0.045 for s in spent_before[:len(calls) - in_flight + 1])
        assert sum(c.cost_usd for c in calls) < 0.045 + in_flight * 0.01 + 1e-9


def test_beam_expands_the_best_candidates_across_samples_with_different_directions(tmp_path):
    with Store(tmp_path / "kw.db") as store:
        runner, outcomes = run(store, config("beam", samples=4, rounds=3))
        task = outcomes[0].task_hash
        candidates = [c for c in store.candidates(run_id=runner.run.id) if c.task_hash == task]
        by_id = {c.id: c for c in candidates}
        assert len(candidates) == 12  # 4 samples x 3 rounds, no failed reply
        seeds = [c for c in candidates if c.round == 0]
        assert len({c.hint for c in seeds}) == 4  # every sample seeds in another direction
        speed = {c.id: float(c.source.split("SPEED = ")[1].split("\n")[0]) for c in candidates}
        broken = {c.id for c in candidates if "BROKEN = True" in c.source}
        for round_index in (1, 2):
            earlier = [c for c in candidates if c.round < round_index and c.id not in broken]
            top2 = sorted(earlier, key=lambda c: (-speed[c.id], c.round, c.sample))[:2]
            expanded = [c for c in candidates if c.round == round_index]
            assert {c.parent_id for c in expanded} == {c.id for c in top2}
            assert any(by_id[c.parent_id].sample != c.sample for c in expanded)  # parents cross samples
            pairs = [(c.parent_id, c.hint) for c in expanded]
            assert len(set(pairs)) == len(pairs)  # siblings explore different directions
        head = outcomes[0]
        assert head.sample == 0 and head.best_speedup_eager == max(speed[c] for c in speed if c not in broken)


def test_evolve_keeps_a_program_database_and_shows_inspirations(tmp_path):
    with Store(tmp_path / "kw.db") as store:
        runner, outcomes = run(store, config("evolve", samples=3, rounds=4))
        task = outcomes[0].task_hash
        programs = store.programs(runner.run.id, task)
        candidates = {c.id: c for c in store.candidates(run_id=runner.run.id) if c.task_hash == task}
        timed = [c for c in candidates.values() if "BROKEN = True" not in c.source]
        assert {p.candidate_id for p in programs} == {c.id for c in timed}
        assert all(p.cell == f"{p.bound}/{p.hint}" and p.bound == "unknown" for p in programs)
        later = [c for c in candidates.values() if c.round >= 2 and c.parent_id and candidates[c.parent_id].id]
        assert any(c.inspiration_ids for c in later)
        for c in later:
            assert c.parent_id not in c.inspiration_ids
            assert all(candidates[i].round < c.round for i in c.inspiration_ids)


@pytest.mark.parametrize("strategy", ["beam", "evolve"])
def test_a_resumed_search_asks_no_call_again_and_ends_where_a_whole_run_ends(tmp_path, strategy):
    with Store(tmp_path / "whole.db") as store:
        runner, _ = run(store, config(strategy))
        whole = sorted((c.sample, c.round, c.source) for c in store.candidates(run_id=runner.run.id))
    db = tmp_path / "killed.db"
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from test_search import config, run\n"
              "from search_fakes import SearchModel\n"
              "from kernelwright.store import Store\n"
              f"store = Store({str(db)!r})\n"
              f"run(store, config({strategy!r}), SearchModel(kill_after=9))\n")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with Store(db) as store:
        [stored_run] = store.runs()
        before = {(c.task_hash, c.sample, c.role, c.sequence) for c in store.llm_calls(run_id=stored_run.id)}
        assert 0 < len(before) <= 9
        model = SearchModel()
        runner, _ = run(store, config(strategy), model, resume=stored_run.id)
        asked = {(c.task_hash, c.sample, c.role, c.sequence) for c in model.contexts}
        assert not asked & before  # no stored call was asked again
        after = sorted((c.sample, c.round, c.source) for c in store.candidates(run_id=stored_run.id))
        assert after == whole
        assert json.dumps(sorted(before | asked)) and len(before | asked) == len(store.llm_calls(run_id=stored_run.id))
