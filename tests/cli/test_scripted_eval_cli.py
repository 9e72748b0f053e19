"""A scripted model over several tasks: a task whose replies run out ends with `script_exhausted` (never the whole
evaluation), a multi-task script answers each task with its own replies, and a finished run's --resume says so."""

import json
import os
import subprocess
import sys
from pathlib import Path

from kernelwright.agents.coder import extract_source
from kernelwright.llm import open_model
from kernelwright.llm.models import CallContext, Message
from kernelwright.llm.scripted import load_task_replies, resolve_script

ROOT = Path(__file__).resolve().parents[2]
GELU, ADD_RMSNORM = "level1/1_gelu", "level2/13_add_rmsnorm"
NO_EXTENSION = """```python
import torch.nn as nn


class ModelNew(nn.Module):
    def forward(self, *inputs):
        return inputs[0]
```"""  # a quick STATIC_REJECT: nothing compiles


def ask(model, task: str, role: str = "coder", sequence: int = 0) -> str:
    return model.complete([Message(role="user", content="x")],
                          CallContext(run_id="r", role=role, purpose="seed", task=task, sequence=sequence)).text


def test_a_multi_task_script_answers_each_task_with_its_own_replies(tmp_path):
    path = tmp_path / "multi.json"
    path.write_text(json.dumps({"coder": ["fallback"], "tasks": {GELU: {"coder": ["gelu reply"]},
                                                                  "13_add_rmsnorm": {"coder": ["rmsnorm reply"]}}}))
    model = open_model(f"scripted/{path}")
    assert ask(model, GELU) == "gelu reply"
    assert ask(model, ADD_RMSNORM) == "rmsnorm reply"  # by NAME too
    assert ask(model, "level1/6_softmax") == "fallback"


def test_the_shipped_eval_demo_fits_the_tasks_it_names():
    path = resolve_script("demo-eval")
    about = json.loads(path.read_text())["about"]
    replies = load_task_replies(path)
    assert set(replies) == {GELU, ADD_RMSNORM} and all(task in about for task in replies)
    for task, roles in replies.items():
        assert all(extract_source(reply) for reply in roles["coder"]), task
    assert len(replies[ADD_RMSNORM]["coder"]) == 4  # the README's --rounds 4


def test_eval_over_two_tasks_ends_each_sample_that_runs_out_and_resume_of_a_finished_run_says_so(tmp_path,
                                                                                                    build_cache_root):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"coder": [NO_EXTENSION] * 2, "judge": ['{"critical_issue": "a", "evidence": "b", '
                                                                         '"fix": "c"}'],
                                  "tasks": {GELU: {"coder": [], "judge": []}}}))
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db"), "KERNELWRIGHT_CACHE": str(build_cache_root)}
    command = [sys.executable, "-m", "kernelwright", "eval"]
    first = subprocess.run([*command, GELU, ADD_RMSNORM, "--model", f"scripted/{script}", "--device", "cpu",
                            "--rounds", "4", "--no-profile", "--no-compile-baseline", "--json"],
                           env=env, cwd=ROOT, text=True, capture_output=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    by_task = {t["task"]: t for t in summary["tasks"]}
    assert {t["stop_reason"] for t in summary["tasks"]} == {"script_exhausted"}
    assert by_task[GELU]["best_verdict"] == "NO_CANDIDATE" and by_task[GELU]["rounds"] == 0
    assert by_task[ADD_RMSNORM]["rounds"] == 2  # two Coder replies, then the Judge has none for round 2

    again = subprocess.run([*command, "--resume", summary["run_id"], "--json"], env=env, cwd=ROOT, text=True,
                           capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"run {summary['run_id']} is already finished: nothing to resume" in again.stderr
    assert json.loads(again.stdout)["tasks"] == summary["tasks"]
