"""The Ray executor on a local Ray instance (CPU): verification runs in Ray workers, results reach the store."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from kernelwright.evaluate.ray_executor import RayExecutor  # noqa: E402
from kernelwright.sandbox.build import BuildCache  # noqa: E402
from kernelwright.store import Store  # noqa: E402
from kernelwright.tasks import load_task  # noqa: E402
from kernelwright.verify.pipeline import VerifyOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_ray_workers_build_and_verify(local_ray, build_cache_root):
    task = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
    source = (ROOT / "tests" / "adversarial" / "cpu" / "control_softmax.py").read_text()
    executor = RayExecutor("cpu", cache=BuildCache(build_cache_root))
    options = VerifyOptions(device="cpu", time_candidate=False, compile_baseline=False)
    executor.build(task, source, options)
    result = executor.verify(task, source, options)
    assert result.verdict == "PASS", result.summary
    stats = executor.stats()
    assert (stats.builds, stats.verifications) == (1, 1) and stats.lanes["ray0"] > 0


def test_eval_with_the_ray_executor_stores_its_results(tmp_path, build_cache_root):
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db"), "KERNELWRIGHT_CACHE": str(build_cache_root)}
    done = subprocess.run([sys.executable, "-m", "kernelwright", "eval", "level2/13_add_rmsnorm", "--model",
                           "scripted/demo", "--device", "cpu", "--rounds", "1", "--executor", "ray", "--no-profile",
                           "--no-compile-baseline", "--json"], env=env, cwd=ROOT, text=True, capture_output=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert [t["best_verdict"] for t in summary["tasks"]] == ["COMPILE_FAIL"]  # the demo's first reply
    with Store(tmp_path / "kw.db", readonly=True) as store:
        [candidate] = store.candidates(run_id=summary["run_id"])
        assert [v.verdict for v in store.verifications(candidate_id=candidate.id)] == ["COMPILE_FAIL"]
        assert store.runs(kind="eval")[0].config["executor"] == "ray"


def test_missing_cluster_is_one_line(tmp_path):
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db")}
    done = subprocess.run([sys.executable, "-m", "kernelwright", "eval", "level1/1_gelu", "--model", "scripted/demo",
                           "--device", "cpu", "--executor", "ray", "--ray-address", "127.0.0.1:1"],
                          env=env, cwd=ROOT, text=True, capture_output=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().startswith("error:") and "Ray cluster" in done.stderr
