"""`kernelwright eval` on the CPU backend against a fake OpenAI-compatible server: metrics match the per-task
results, the report holds every task, and a Ctrl-C mid-run followed by --resume recomputes nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from fake_llm import FakeLLMServer, Reply  # noqa: E402

from kernelwright.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TASKS = [ROOT / "tasks" / "level1" / "1_gelu.py", ROOT / "tasks" / "level1" / "6_softmax.py",
         ROOT / "tasks" / "level2" / "13_add_rmsnorm.py"]
ANSWERS = {  # a phrase of the task's docstring -> the candidate the model answers with
    "Exact (erf-based) GELU": ROOT / "bench" / "candidates" / "cpu_gelu.py",  # correct
    "Row-wise softmax over the last dimension": ROOT / "tests" / "adversarial" / "cpu" / "unstable_softmax_no_max.py",
    "Residual add followed by RMSNorm": ROOT / "src" / "kernelwright" / "llm" / "scripts" / "add_rmsnorm" / "round3_faster.py",
}


def answer(request) -> Reply:
    for phrase, path in ANSWERS.items():
        if phrase in request.prompt:
            return Reply(f"```python\n{path.read_text()}```", input_tokens=1000, output_tokens=200)
    return Reply("I do not know this task.", input_tokens=1000, output_tokens=5)


def test_eval_metrics_report_and_resume_after_ctrl_c(tmp_path, build_cache_root):
    db = tmp_path / "kw.db"
    with FakeLLMServer(responder=answer) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
        env.update(OPENAI_API_KEY="test-key", KERNELWRIGHT_DB=str(db), KERNELWRIGHT_CACHE=str(build_cache_root),
                   NO_PROXY="127.0.0.1,localhost")
        args = [sys.executable, "-m", "kernelwright", "eval", *map(str, TASKS), "--model", "openai/coder-x",
                "--base-url", server.openai_base_url, "--device", "cpu", "--rounds", "1", "--workers", "2",
                "--no-compile-baseline", "--no-profile", "--json"]
        first = subprocess.Popen(args, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
        deadline = time.monotonic() + 900
        while not _finished_samples(db) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group, workers included
        out, err = first.communicate(timeout=600)
        assert first.returncode == 130, err[-2000:]
        assert "kernelwright eval --resume" in out
        with Store(db, readonly=True) as store:
            [run] = store.runs(kind="eval")
            assert run.status == "interrupted"
            before = _counts(store, run.id)
        requests_before = len(server.completions)
        assert 1 <= before["done"] and requests_before >= before["done"]

        resumed = subprocess.run([sys.executable, "-m", "kernelwright", "eval", "--resume", run.id, "--json"],
                                 env=env, cwd=ROOT, text=True, capture_output=True, timeout=900)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        summary = json.loads(resumed.stdout)
        assert len(server.completions) == 3  # one Coder call per task over both sessions: none asked twice

    with Store(db, readonly=True) as store:
        after = _counts(store, run.id)
        assert store.get(type(run), run.id).status == "finished"
    assert after["done"] == 3 and after["candidates"] == 3
    assert after["verifications"] == 3 + 2  # one per candidate, and a re-timing of each correct one
    for candidate_id, count in before["per_candidate"].items():  # finished work stayed as it was
        assert after["per_candidate"][candidate_id] >= count

    tasks = {t["task"]: t for t in summary["tasks"]}
    assert set(tasks) == {"level1/1_gelu", "level1/6_softmax", "level2/13_add_rmsnorm"}
    assert tasks["level1/6_softmax"]["best_verdict"] == "INCORRECT"
    assert tasks["level1/1_gelu"]["best_verdict"] == tasks["level2/13_add_rmsnorm"]["best_verdict"] == "PASS"
    metrics = summary["metrics"]
    assert metrics["correct_rate"] == 2 / 3 and metrics["compile_rate"] == 1.0
    speedups = [t["best_speedup_eager"] for t in summary["tasks"] if t["best_verdict"] == "PASS"]
    assert metrics["fast_1_eager"] == sum(s > 1.0 for s in speedups) / 3
    assert abs(metrics["geomean_speedup_eager"] - (speedups[0] * speedups[1]) ** 0.5) < 1e-9
    assert (metrics["input_tokens"], metrics["output_tokens"]) == (3000, 600)
    assert set(summary["executor"]) >= {"wall_s", "device_busy_share", "builds", "verifications"}

    report = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "kernelwright", "report", run.id, "--html", str(report),
                           "--md", str(tmp_path / "report.md")], env=env, cwd=ROOT, text=True, capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    html = report.read_text()
    assert all(name in html for name in tasks) and "<svg" in html
    assert all(name in (tmp_path / "report.md").read_text() for name in tasks)

    exported = tmp_path / "best"
    done = subprocess.run([sys.executable, "-m", "kernelwright", "export", run.id, "--best", str(exported)],
                          env=env, cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((exported / "manifest.json").read_text())
    assert {e["task"]: bool(e["file"]) for e in manifest["tasks"]} == {
        "level1/1_gelu": True, "level1/6_softmax": False, "level2/13_add_rmsnorm": True}
    assert "class ModelNew" in (exported / "level1" / "1_gelu.py").read_text()


def _finished_samples(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with Store(db, readonly=True) as store:
            return len(store.events(kind="task_done"))
    except Exception:
        return 0


def _counts(store: Store, run_id: str) -> dict:
    candidates = store.candidates(run_id=run_id)
    per_candidate = {c.id: len(store.verifications(candidate_id=c.id)) for c in candidates}
    return {"done": len(store.events(run_id=run_id, kind="task_done")), "candidates": len(candidates),
            "verifications": sum(per_candidate.values()), "per_candidate": per_candidate}
