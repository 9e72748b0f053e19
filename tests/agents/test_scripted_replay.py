"""The offline demos from the README: a scripted model, then a replay of its run at zero API cost."""

import json
import os
import subprocess
import sys
from pathlib import Path

from kernelwright.store import Store

ROOT = Path(__file__).resolve().parents[2]


def kernelwright(*args: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "kernelwright", *args, "--json"], env=env, cwd=ROOT, text=True,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_scripted_demo_then_replay_reproduce_the_same_candidates(tmp_path, build_cache_root):
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db"), "KERNELWRIGHT_CACHE": str(build_cache_root)}
    common = ("--device", "cpu", "--rounds", "2", "--no-profile", "--no-compile-baseline")
    scripted = kernelwright("run", "level2/13_add_rmsnorm", "--model", "scripted/demo", *common, env=env)
    replayed = kernelwright("run", "level2/13_add_rmsnorm", "--model", f"replay/{scripted['run_id']}", *common,
                            env=env)
    [first], [second] = scripted["tasks"], replayed["tasks"]
    assert first["best_verdict"] == second["best_verdict"] == "INCORRECT"  # compile error, then a wrong result
    assert (second["input_tokens"], second["output_tokens"]) == (first["input_tokens"], first["output_tokens"])
    assert second["cost_usd"] == 0.0 and second["llm_calls"] == first["llm_calls"] == 3
    with Store(tmp_path / "kw.db", readonly=True) as store:
        original = store.candidates(run_id=scripted["run_id"])
        again = store.candidates(run_id=replayed["run_id"])
        verdicts = [[v.verdict for v in store.verifications(candidate_id=c.id)] for c in again]
        replay_calls = store.llm_calls(run_id=replayed["run_id"])
    assert [c.source for c in again] == [c.source for c in original]
    assert verdicts == [["COMPILE_FAIL"], ["INCORRECT"]]  # verified live, not copied
    assert {c.model for c in replay_calls} == {"scripted/demo"}
