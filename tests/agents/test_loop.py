"""The loop's decisions (parent choice, stops, budgets, bad replies, resume) with a real store and verdicts fed in.

Compilation and verification are replaced by a table of results per candidate source here; test_run_e2e.py runs
the real ones."""

import json
from pathlib import Path


from kernelwright.agents.budget import Budget, BudgetLimits
from kernelwright.agents.loop import LoopConfig, Services, TaskLoop
from kernelwright.agents.trajectory import Trajectory
from kernelwright.llm import CallContext, Completion, Message, RecordingModel, RepliesExhausted, ReplyError
from kernelwright.profile.models import ProfileReport, RooflinePosition
from kernelwright.store import Run, Store
from kernelwright.tasks import load_task
from kernelwright.verify.models import VerificationResult

TASK = load_task(Path(__file__).resolve().parents[2] / "tasks" / "level1" / "1_gelu.py")
CORRECTION = json.dumps({"critical_issue": "c", "evidence": "e", "fix": "f"})
OPTIMISATION = json.dumps({"bottleneck": "b", "evidence": ["m"], "optimisation": "o", "plan": ["p"]})


def candidate(tag: str) -> str:
    return f"```python\nimport torch.nn as nn\n# {tag}\nclass ModelNew(nn.Module):\n    pass\n```"


class Model:
    """Replies by the role's call number; an exception instance is raised instead of answered."""

    def __init__(self, replies: dict[str, list]) -> None:
        self.spec, self.replies, self.seen = "test/model", replies, []

    def complete(self, messages: list[Message], context: CallContext) -> Completion:
        self.seen.append((context.role, context.sequence, context.purpose, context.subject_id))
        reply = self.replies[context.role][context.sequence]
        if isinstance(reply, Exception):
            raise reply
        return Completion(text=reply, model="m", input_tokens=100, output_tokens=10, cost_usd=0.5)


def result(verdict: str, speedup: float | None = None, roof: float | None = None) -> VerificationResult:
    timing = {"speedup_eager": speedup} if speedup is not None else None
    return VerificationResult(verdict=verdict, summary=verdict.lower(), task=TASK.ref, task_hash=TASK.hash,
                              device="cpu", timing=timing, perf="PERF_VALID" if speedup else None)


def run_loop(tmp_path, replies, outcomes: dict[str, VerificationResult], config: LoopConfig, limits=None,
             roofs: dict[str, float] | None = None, store: Store | None = None, run: Run | None = None):
    store = store or Store(tmp_path / "kw.db")
    run = run or store.add(Run(kind="agent"))
    model = Model(replies)
    verified: list[str] = []

    def verify(source: str) -> VerificationResult:
        tag = source.split("# ")[1].split("\n")[0]
        verified.append(tag)
        return outcomes[tag]

    def profile(source: str, _: VerificationResult) -> ProfileReport:
        tag = source.split("# ")[1].split("\n")[0]
        roof = (roofs or {}).get(tag)
        position = RooflinePosition(time_ms=1, flops=0, bytes=1, achieved_gflops=0, achieved_gbs=1, peak_gflops=1,
                                    peak_gbs=1, compute_fraction=0, bandwidth_fraction=roof or 0.1, bound="memory",
                                    roof_fraction=roof or 0.1)
        return ProfileReport(tool="torch.profiler", device="cpu", ok=True, roofline=position)

    services = Services(coder=RecordingModel(model, store), judge=RecordingModel(model, store), verify=verify,
                        profile=profile, hardware={"device": "cpu", "cores": 2}, backend="cpu")
    budget = Budget(limits or BudgetLimits())
    loop = TaskLoop(Trajectory(store, run.id, TASK, "cpu"), services, config, budget)
    reason = loop.run()
    return loop, reason, model, verified, store, run


def test_refines_from_the_best_candidate_not_the_latest(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b"), candidate("c")], "judge": [OPTIMISATION, OPTIMISATION]}
    outcomes = {"a": result("PASS", 2.0), "b": result("PASS", 1.1), "c": result("PASS", 1.5)}
    loop, reason, model, _, _, _ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3))
    a = loop.tried[0].candidate.id
    assert reason == "rounds"
    assert [t.candidate.parent_id for t in loop.tried] == [None, a, a]  # b was worse, so round 2 starts from a again
    assert loop.best().candidate.id == a


def test_latest_option_refines_from_the_latest(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b"), candidate("c")], "judge": [OPTIMISATION, OPTIMISATION]}
    outcomes = {"a": result("PASS", 2.0), "b": result("PASS", 1.1), "c": result("PASS", 1.5)}
    loop, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3, refine_from="latest"))
    assert loop.tried[2].candidate.parent_id == loop.tried[1].candidate.id


def test_failures_are_repaired_and_the_judge_reads_the_failing_candidate(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b")], "judge": [CORRECTION]}
    outcomes = {"a": result("INCORRECT"), "b": result("PASS", 1.2)}
    loop, _, model, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=2))
    a = loop.tried[0].candidate.id
    assert model.seen == [("coder", 0, "seed", None), ("judge", 0, "correction", a), ("coder", 1, "repair", a)]


def test_a_script_out_of_replies_ends_the_task_as_a_stop_not_an_error(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b")],
               "judge": [OPTIMISATION, RepliesExhausted("scripted model demo has no judge reply #2 (the script holds 1)")]}
    outcomes = {"a": result("PASS", 1.5), "b": result("PASS", 2.0)}
    loop, reason, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=4))
    assert reason == "script_exhausted" and len(loop.tried) == 2
    assert loop.best().candidate.id == loop.tried[1].candidate.id  # what the script did reach still counts


def test_plateau_stops_the_task(tmp_path):
    replies = {"coder": [candidate(t) for t in "abcde"], "judge": [OPTIMISATION] * 4}
    outcomes = {"a": result("PASS", 2.0), "b": result("PASS", 2.01), "c": result("INCORRECT"),
                "d": result("PASS", 1.0), "e": result("PASS", 3.0)}
    loop, reason, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=5, plateau_rounds=3))
    assert reason == "plateau" and len(loop.tried) == 4


def test_near_the_roofline_stops_the_task(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b"), candidate("c")], "judge": [OPTIMISATION] * 2}
    outcomes = {"a": result("PASS", 1.5), "b": result("PASS", 2.5), "c": result("PASS", 3.0)}
    loop, reason, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3), roofs={"b": 0.93})
    assert reason == "roofline" and len(loop.tried) == 2


def test_dollar_budget_stops_before_the_next_call(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b")], "judge": [CORRECTION]}
    outcomes = {"a": result("INCORRECT"), "b": result("PASS", 1.2)}
    loop, reason, model, _, store, run = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=2),
                                                  limits=BudgetLimits(max_usd=1.0))
    assert reason == "budget" and len(model.seen) == 2  # seed ($0.50) and the Judge ($1.00), then no Coder call
    assert sum(c.cost_usd for c in store.llm_calls(run_id=run.id)) == 1.0


def test_bad_replies_are_failed_rounds_not_crashes(tmp_path):
    replies = {"coder": ["no code here", ReplyError("the provider kept failing"), candidate("a")],
               "judge": ["not json", "still not json", CORRECTION]}
    outcomes = {"a": result("PASS", 1.3)}
    loop, reason, model, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3))
    assert reason == "rounds" and [t.result.verdict for t in loop.tried] == ["PASS"]
    assert [s[:3] for s in model.seen] == [("coder", 0, "seed"), ("coder", 1, "seed"), ("coder", 2, "seed")]


def test_a_judge_reply_that_never_parses_reaches_the_coder_as_free_text(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b")], "judge": ["Use shared memory tiles.", "still prose"]}
    outcomes = {"a": result("INCORRECT"), "b": result("PASS", 1.2)}
    loop, _, model, _, store, run = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=2))
    assert [s[2] for s in model.seen] == ["seed", "correction", "reformat", "repair"]
    coder_prompt = store.llm_calls(run_id=run.id)[-1].messages[-1]["content"]
    assert "Use shared memory tiles." in coder_prompt


def test_running_the_loop_again_redoes_nothing(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b"), candidate("c")], "judge": [CORRECTION, OPTIMISATION]}
    outcomes = {"a": result("INCORRECT"), "b": result("PASS", 1.2), "c": result("PASS", 1.9)}
    first, _, _, verified, store, run = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3))
    again, _, model, verified_again, *_ = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3), store=store,
                                                   run=run)
    assert verified == ["a", "b", "c"] and verified_again == [] and model.seen == []
    assert [t.candidate.id for t in again.tried] == [t.candidate.id for t in first.tried]
    assert len(store.llm_calls(run_id=run.id)) == 5 and len(store.candidates(run_id=run.id)) == 3


def test_the_coder_hears_of_its_last_attempt_from_the_same_parent(tmp_path):
    replies = {"coder": [candidate("a"), candidate("b"), candidate("c")], "judge": [OPTIMISATION, OPTIMISATION]}
    outcomes = {"a": result("PASS", 2.0), "b": result("INCORRECT"), "c": result("PASS", 2.5)}
    loop, _, _, _, store, run = run_loop(tmp_path, replies, outcomes, LoopConfig(rounds=3))
    prompts = [c.messages[-1]["content"] for c in store.llm_calls(run_id=run.id) if c.role == "coder"]
    assert "Your last attempt from this candidate" not in prompts[1]
    assert "Your last attempt from this candidate" in prompts[2] and "round 1, INCORRECT: incorrect" in prompts[2]
    assert loop.tried[2].candidate.parent_id == loop.tried[0].candidate.id
