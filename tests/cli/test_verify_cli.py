import json
import sys
from pathlib import Path

import pytest

from typer.testing import CliRunner

from kernelwright.cli import app
from kernelwright.store import Store, Timing, Verification

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "verify"))
from candidates import HONEST, candidate  # noqa: E402

runner = CliRunner()
KEYS = {"verdict", "reason", "speedup_eager", "speedup_compile", "ci_low", "ci_high", "candidate_ms", "eager_ms",
        "compile_ms", "own_kernel_share", "flags"}


def _verify(tmp_path: Path, build_cache_root: Path, source: str, *extra: str):
    path = tmp_path / "candidate.py"
    path.write_text(source)
    db = tmp_path / "runs.db"
    result = runner.invoke(
        app, ["--db", str(db), "verify", "level1/softmax", str(path), "--device", "cpu", "--json", *extra,
              "--tasks-dir", str(ROOT / "tasks")],
        env={"KERNELWRIGHT_CACHE": str(build_cache_root)},
    )
    return result, db


def test_honest_candidate_json_has_the_documented_keys_and_is_stored(tmp_path: Path, build_cache_root: Path) -> None:
    # --remeasure-above 0: any speedup is timed a second time in a fresh process, and the lower one stands;
    # --timing kernelbench: KernelBench's protocol is measured beside ours, and each number names its protocol
    result, db = _verify(tmp_path, build_cache_root, HONEST, "--no-compile-baseline", "--remeasure-above", "0",
                         "--timing", "kernelbench")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert KEYS <= set(payload)
    assert payload["verdict"] == "PASS" and payload["speedup_eager"] > 0
    assert payload["ci_low"] <= payload["speedup_eager"] <= payload["ci_high"]
    first, second = payload["timing"]["remeasured"]
    assert payload["speedup_eager"] == min(first, second) and first != second
    assert any("re-measured in a fresh process" in note for note in payload["timing"]["notes"])
    assert payload["compile_ms"] is None and 0.5 < payload["own_kernel_share"] <= 1.0
    assert payload["timing"]["protocol"] == "kernelwright"
    kernelbench = payload["kernelbench"]
    assert kernelbench["protocol"] == "kernelbench" and kernelbench["error"] is None
    assert kernelbench["method"] == "perf_counter" and kernelbench["warmup"] == 3
    eager, mine = kernelbench["subjects"]["eager"], kernelbench["subjects"]["candidate"]
    assert eager["trials"] == mine["trials"] == kernelbench["trials"] == 100
    assert kernelbench["speedup_eager"] == eager["mean_ms"] / mine["mean_ms"]
    assert mine["min_ms"] <= mine["mean_ms"] <= mine["max_ms"]
    with Store(db, readonly=True) as store:
        [verification] = store.verifications()
        assert isinstance(verification, Verification) and verification.verdict == "PASS"
        assert verification.evidence["kernelbench"] == kernelbench
        assert verification.seed == payload["seed"]
        subjects = {t.subject: t for t in store.timings()}
        assert set(subjects) == {"candidate", "eager"} and all(isinstance(t, Timing) for t in subjects.values())
        assert subjects["candidate"].n == len(subjects["candidate"].samples) > 0
        [run] = store.runs()
        assert run.status == "finished" and run.kind == "verify"


def test_wrong_candidate_exits_1_with_evidence(tmp_path: Path, build_cache_root: Path) -> None:
    result, _ = _verify(tmp_path, build_cache_root, candidate("        return ext.softmax_bf16(x)"), "--no-timing")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["verdict"] == "INCORRECT" and payload["reason"] == "elementwise"
    failure = payload["evidence"]["correctness"]["failures"][0]
    assert failure["mismatches"][0]["max_error_at"] is not None and failure["distribution"]


def test_an_unconfined_machine_gives_no_pass_and_exits_1_unless_allowed(
        tmp_path: Path, build_cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if bubblewrap were missing: an honest candidate, correct and timed, is SUSPECT (unconfined)."""
    from kernelwright.sandbox.isolation import IsolationInfo
    from kernelwright.verify import pipeline

    shared = IsolationInfo(method="unshare", network="isolated", filesystem="shared")
    monkeypatch.setattr(pipeline, "probe_isolation", lambda: shared)
    result, db = _verify(tmp_path, build_cache_root, HONEST, "--no-compile-baseline")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert (payload["verdict"], payload["reason"]) == ("SUSPECT", "unconfined")
    assert "could read the trusted expected outputs" in payload["summary"] and payload["timing"] is not None
    assert any(f["code"] == "isolation_filesystem" and f["kind"] == "harness" for f in payload["evidence"]["flags"])
    allowed, _ = _verify(tmp_path, build_cache_root, HONEST, "--no-timing", "--allow-unconfined")
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["reason"] == "unconfined"


def test_candidate_without_modelnew_is_one_line_verdict(tmp_path: Path, build_cache_root: Path) -> None:
    result, _ = _verify(tmp_path, build_cache_root, "import torch\n")
    assert json.loads(result.stdout)["reason"] == "NO_MODELNEW"


def test_unreadable_candidate_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(ROOT / "tasks/level1/6_softmax.py"), str(tmp_path / "missing.py"),
                                 "--device", "cpu"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot read candidate") and "Traceback" not in result.stderr
