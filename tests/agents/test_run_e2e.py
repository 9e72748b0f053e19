"""`kernelwright run` end to end on the CPU backend: the real openai (Coder) and anthropic (Judge, streamed) SDKs
against a fake server on 127.0.0.1, real builds, real verification; killed mid-run and resumed."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from fake_llm import Failure, FakeLLMServer, Malformed, Reply  # noqa: E402

from kernelwright.store import Candidate, Store, StoreError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "src" / "kernelwright" / "llm" / "scripts" / "add_rmsnorm"
TASK = ROOT / "tasks" / "level2" / "13_add_rmsnorm.py"
CODER_TOKENS = [(1200, 300), (1500, 0), (1700, 310), (1900, 320), (2100, 330)]
JUDGE_TOKENS = [(900, 40), (1000, 60), (1100, 60), (1150, 70), (1250, 90)]
PRICES = {"coder-model": (2.0, 8.0), "judge-model": (3.0, 15.0)}  # USD per million tokens in, out

CORRECTION_1 = {"critical_issue": "missing semicolon after the scale computation", "evidence": "expected ';'",
                "fix": "add the semicolon after `scale`"}
CORRECTION_2 = {"critical_issue": "the weight is never applied", "evidence": "every value off by the weight",
                "fix": "multiply each output by pw[c] WEIGHT_MARKER"}
OPTIMISATION = {"bottleneck": "row statistic recomputed per element", "evidence": ["own share 100%"],
                "optimisation": "one pass per row ONE_PASS_MARKER", "plan": ["sum squares once", "scale"]}


def fenced(name: str) -> str:
    return f"Here is the kernel.\n\n```python\n{(SCRIPTS / name).read_text()}```\n"


class Script:
    """Replies by call order per API; a redone call would shift every later reply and fail the test."""

    def __init__(self) -> None:
        self.coder = [fenced("round0_compile_error.py"), "", fenced("round1_wrong_result.py"),
                      fenced("round2_correct.py"), fenced("round3_faster.py")]
        self.judge = ["The kernel fails to compile; you should fix the syntax.", json.dumps(CORRECTION_1),
                      json.dumps(CORRECTION_1), f"```json\n{json.dumps(CORRECTION_2)}\n```", json.dumps(OPTIMISATION)]
        self.lock = threading.Lock()
        self.served = {"openai": 0, "anthropic": 0}

    def __call__(self, request):
        with self.lock:
            index = self.served[request.api]
            self.served[request.api] += 1
        if request.api == "openai":
            tokens_in, tokens_out = CODER_TOKENS[index]
            return Reply(self.coder[index], input_tokens=tokens_in, output_tokens=tokens_out)
        tokens_in, tokens_out = JUDGE_TOKENS[index]
        return Reply(self.judge[index], input_tokens=tokens_in, output_tokens=tokens_out)


def cli_env(server: FakeLLMServer, tmp_path: Path, build_cache_root: Path) -> dict[str, str]:
    prices = tmp_path / "prices.toml"
    prices.write_text("".join(f'[models."{m}"]\ninput = {i}\noutput = {o}\n' for m, (i, o) in PRICES.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update(OPENAI_API_KEY="test-key", ANTHROPIC_API_KEY="test-key", OPENAI_BASE_URL=server.openai_base_url,
               ANTHROPIC_BASE_URL=server.anthropic_base_url, KERNELWRIGHT_PRICES=str(prices),
               KERNELWRIGHT_DB=str(tmp_path / "kw.db"), KERNELWRIGHT_CACHE=str(build_cache_root),
               NO_PROXY="127.0.0.1,localhost")
    return env


def kernelwright(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kernelwright", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for(predicate, process: subprocess.Popen, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.stderr.read()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the run")


def candidates_of(db: Path) -> list[Candidate]:
    """The candidates stored so far; none while the run is still creating and migrating its database."""
    try:
        with Store(db, readonly=True) as store:
            return store.candidates()
    except StoreError:
        return []


def test_run_goes_from_compile_error_to_faster_survives_a_kill_and_resumes(tmp_path, build_cache_root):
    script = Script()
    with FakeLLMServer(responder=script) as server:
        # the Coder's first call meets a rate limit, a 500 and a malformed body before its reply
        server.push(Failure.rate_limited(retry_after="0"), Failure(500, message="overloaded"), Malformed())
        env = cli_env(server, tmp_path, build_cache_root)
        args = ("run", str(TASK), "--model", "openai/coder-model", "--judge-model", "anthropic/judge-model",
                "--device", "cpu", "--rounds", "5", "--no-compile-baseline", "--json")
        first = kernelwright(*args, env=env)
        # kill it hard while round 2's candidate (the wrong result) is being verified
        wait_for(lambda: any(c.round == 2 for c in candidates_of(tmp_path / "kw.db")), first)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
        served_before = dict(script.served)
        assert served_before == {"openai": 3, "anthropic": 3}

        with Store(tmp_path / "kw.db", readonly=True) as store:
            [run] = store.runs(kind="agent")
            assert run.status == "running"  # a killed process could not say otherwise
        second = kernelwright("run", "--resume", run.id, "--json", env=env)
        out, err = second.communicate(timeout=1500)
        assert second.returncode == 0, err[-3000:]
        summary = json.loads(out)
        requests = server.completions

    # nothing finished before the kill was asked again
    assert script.served == {"openai": 5, "anthropic": 5}
    with Store(tmp_path / "kw.db", readonly=True) as store:
        assert store.get(type(run), run.id).status == "finished"
        candidates = store.candidates(run_id=run.id)
        assert [c.round for c in candidates] == [0, 2, 3, 4]  # round 1's reply held no code
        verdicts = {c.round: [v.verdict for v in store.verifications(candidate_id=c.id)] for c in candidates}
        calls = store.llm_calls(run_id=run.id)
        events = store.events(run_id=run.id)
    assert verdicts == {0: ["COMPILE_FAIL"], 2: ["INCORRECT"], 3: ["PASS"], 4: ["PASS", "PASS"]}  # best re-timed
    assert [(c.role, c.sequence) for c in calls if c.error is None] == [
        ("coder", 0), ("judge", 0), ("judge", 1), ("coder", 1), ("judge", 2), ("coder", 2), ("judge", 3),
        ("coder", 3), ("judge", 4), ("coder", 4)]
    assert [c.purpose for c in calls if c.role == "judge"] == [
        "correction", "reformat", "correction", "correction", "optimisation"]
    assert calls[0].retries == 3  # 429, 500 and a malformed body, then the reply
    assert any(e.kind == "no_code" and e.payload["round"] == 1 for e in events)
    parents = {c.round: c.parent_id for c in candidates}
    by_round = {c.round: c.id for c in candidates}
    assert parents == {0: None, 2: by_round[0], 3: by_round[2], 4: by_round[3]}

    # the evidence reached the models
    coder_prompts = [r.prompt for r in requests if r.api == "openai" and r.body]
    judge_prompts = [r.prompt for r in requests if r.api == "anthropic" and r.body]
    assert all(r.stream for r in requests if r.api == "anthropic")
    assert "error: expected" in judge_prompts[0] and "error: expected" in coder_prompts[-4]
    assert "add the semicolon after `scale`" in coder_prompts[-3]
    assert "tokens=45" in judge_prompts[-2] and "WEIGHT_MARKER" in coder_prompts[-2]
    assert "ONE_PASS_MARKER" in coder_prompts[-1]
    assert TASK.read_text().split('"""')[1] in coder_prompts[-1]  # the reference task, every round

    # the result: the faster candidate is the best, and the accounting is exact
    [task] = summary["tasks"]
    assert summary["run_id"] == run.id
    assert task["best_verdict"] == "PASS" and task["rounds"] == 4
    speedups = {}
    with Store(tmp_path / "kw.db", readonly=True) as store:
        for c in candidates[2:]:
            speedups[c.round] = store.verifications(candidate_id=c.id)[0].evidence["timing"]["speedup_eager"]
    assert speedups[4] > speedups[3]
    tokens_in = sum(i for i, _ in CODER_TOKENS) + sum(i for i, _ in JUDGE_TOKENS)
    tokens_out = sum(o for _, o in CODER_TOKENS) + sum(o for _, o in JUDGE_TOKENS)
    assert (task["llm_calls"], task["input_tokens"], task["output_tokens"]) == (10, tokens_in, tokens_out)
    cost = sum(i * 2.0 + o * 8.0 for i, o in CODER_TOKENS) + sum(i * 3.0 + o * 15.0 for i, o in JUDGE_TOKENS)
    assert task["cost_usd"] == pytest.approx(cost / 1e6)

    shown = subprocess.run([sys.executable, "-m", "kernelwright", "show", run.id], env=env, cwd=ROOT, text=True,
                           capture_output=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    for text in ("COMPILE_FAIL", "INCORRECT", "no_code", "final re-timing", "add the semicolon"):
        assert text in shown.stdout
