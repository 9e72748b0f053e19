"""One Ctrl-C in `eval` or `run` acts at once: it says so, drops queued samples, ends running ones at their next
step with their work stored, exits 130, and `--resume` finishes the run without asking the model twice."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kernelwright.store import Store

ROOT = Path(__file__).resolve().parents[2]
TASKS = [ROOT / "tasks" / "level1" / "1_gelu.py", ROOT / "tasks" / "level1" / "6_softmax.py",
         ROOT / "tasks" / "level2" / "13_add_rmsnorm.py"]
NO_EXTENSION = """```python
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, *inputs):
        return inputs[0] * {n}
```"""  # no extension: a quick STATIC_REJECT, so every step is short and nothing compiles
ADVICE = '{"critical_issue": "no kernel", "evidence": "the gate", "fix": "write one"}'
GENEROUS_S = 600


def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"coder": [NO_EXTENSION.format(n=n) for n in range(4)], "judge": [ADVICE] * 3}))
    return path


def start(tmp_path: Path, build_cache_root: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db"), "KERNELWRIGHT_CACHE": str(build_cache_root)}
    return subprocess.Popen([sys.executable, "-m", "kernelwright", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def interrupt_after_first_step(process: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C (to the whole group, as a terminal sends it) once the first step line is printed."""
    seen = []
    for line in process.stdout:  # piped: one plain line per step
        seen.append(line)
        if " round 0: coder seed" in line:
            break
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=GENEROUS_S)
    return "".join(seen) + out, err


def coder_calls(db: Path, run_id: str) -> list[tuple]:
    with Store(db, readonly=True) as store:
        return [(c.task_hash, c.sample, c.sequence) for c in store.llm_calls(run_id=run_id) if c.role == "coder"]


@pytest.mark.parametrize("command, tasks, extra", [
    ("eval", TASKS, ["--workers", "2"]),
    ("run", TASKS[:1], []),
])
def test_one_ctrl_c_stops_at_the_next_step_and_resume_finishes(tmp_path, build_cache_root, command, tasks, extra):
    db = tmp_path / "kw.db"
    args = [command, *map(str, tasks), "--model", f"scripted/{script(tmp_path)}", "--device", "cpu", "--rounds", "4",
            "--no-compile-baseline", "--no-profile", *extra]
    first = start(tmp_path, build_cache_root, args)
    out, err = interrupt_after_first_step(first)
    assert first.returncode == 130, err[-2000:]
    assert re.search(r"^stopping: \d+ samples? in flight; Ctrl-C again to force$", out, re.M), out
    [resume_line] = [line for line in out.splitlines() if line.startswith("interrupted;")]  # a line of its own
    run_id = resume_line.split()[-1]
    assert resume_line == f"interrupted; finished work is stored: kernelwright {command} --resume {run_id}"
    with Store(db, readonly=True) as store:
        run = store.get(type(store.runs()[0]), run_id)
        assert run.status == "interrupted"
        kept = {c.id for c in store.candidates(run_id=run_id)}
        done = len(store.events(run_id=run_id, kind="task_done"))
    assert kept and done < len(tasks)  # stored work is kept; the run did not go on to the end
    asked = coder_calls(db, run_id)

    resumed = subprocess.run([sys.executable, "-m", "kernelwright", command, "--resume", run_id, "--json"],
                             env={**os.environ, "KERNELWRIGHT_DB": str(db), "KERNELWRIGHT_CACHE": str(build_cache_root)},
                             cwd=ROOT, text=True, capture_output=True, timeout=GENEROUS_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    with Store(db, readonly=True) as store:
        assert store.get(type(run), run_id).status == "finished"
        assert kept <= {c.id for c in store.candidates(run_id=run_id)}
        assert len(store.events(run_id=run_id, kind="task_done")) == len(tasks)
    after = coder_calls(db, run_id)
    assert set(asked) <= set(after) and len(after) == len(set(after)) == 4 * len(tasks)  # none asked twice


def test_a_second_ctrl_c_forces_the_exit(tmp_path, build_cache_root):
    args = ["eval", *map(str, TASKS), "--model", f"scripted/{script(tmp_path)}", "--device", "cpu", "--rounds", "4",
            "--no-compile-baseline", "--no-profile", "--workers", "2"]
    process = start(tmp_path, build_cache_root, args)
    for line in process.stdout:
        if " round 0: coder seed" in line:
            break
    os.killpg(process.pid, signal.SIGINT)
    for line in process.stdout:
        if line.startswith("stopping: "):
            break
    os.killpg(process.pid, signal.SIGINT)  # while the samples in flight are still verifying
    out, err = process.communicate(timeout=GENEROUS_S)
    assert process.returncode == 130, err[-2000:]
    [forced] = [line for line in out.splitlines() if line.startswith("forced;")]
    run_id = forced.split()[-1]
    with Store(tmp_path / "kw.db", readonly=True) as store:
        assert store.get(type(store.runs()[0]), run_id).status == "interrupted"
