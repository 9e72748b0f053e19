"""The one protocol of the processes that run candidate code: where they live, how they start and end, and how
their requests and results are checked (kernelwright.workers, sandbox.protocol, sandbox.worker_main)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernelwright.sandbox import protocol
from kernelwright.sandbox.protocol import (BuildResult, InspectRequest, InspectResult, WorkerResult, read_result,
                                           write_request)

SRC = Path(__file__).resolve().parents[2] / "src" / "kernelwright"
# Trusted processes: they run the task's reference or the baselines and never load candidate code.
TRUSTED = {"kernelwright.verify.reference_worker", "kernelwright.verify.baseline_worker",
           "kernelwright.verify.timing_prepare", "kernelwright.verify.timing_checks", "kernelwright.selftest"}
CANDIDATE_LOADERS = ("exec_candidate", "cached_loader", "recording_loader")


def _launched_modules() -> dict[str, list[str]]:
    """Every `python -m kernelwright.X` (or run_trusted("kernelwright.X")) the package starts, with who starts it."""
    found: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("kernelwright.") and " " not in node.value \
                    and (SRC.parent / (node.value.replace(".", "/") + ".py")).is_file():
                found.setdefault(node.value, []).append(str(path.relative_to(SRC)))
    return found


def test_every_process_that_loads_candidate_code_is_a_worker_module() -> None:
    launched = _launched_modules()
    workers = {name for name in launched if name.startswith("kernelwright.workers.")}
    assert workers == {f"kernelwright.workers.{n}" for n in
                       ("inspect_candidate", "build", "correctness", "timing", "kernelbench", "profiling")}
    assert set(launched) - workers <= TRUSTED, set(launched) - workers - TRUSTED
    for name in TRUSTED & set(launched):
        source = (SRC.parent / (name.replace(".", "/") + ".py")).read_text()
        assert not any(loader in source for loader in CANDIDATE_LOADERS), f"{name} is trusted but loads candidates"
    outside = [p for p in SRC.rglob("*.py") if "workers" not in p.parts and p.name != "candidate_loading.py"
               and any(f"{loader}(" in p.read_text() for loader in CANDIDATE_LOADERS)]
    assert outside == []


def test_every_worker_starts_through_worker_main_with_a_protocol_request() -> None:
    for path in sorted((SRC / "workers").glob("*.py")):
        if path.name in ("__init__.py", "preload.py"):
            continue
        calls = [node for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "worker_main"]
        assert len(calls) == 1, path.name
        request = calls[0].args[0].id  # type: ignore[attr-defined]
        assert issubclass(getattr(protocol, request), protocol.WorkerRequest), path.name


def _worker(module: str, job: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, str(job)], capture_output=True, text=True, timeout=120, cwd=job,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_a_request_that_does_not_fit_its_model_is_refused_before_any_candidate_code(tmp_path: Path) -> None:
    (tmp_path / "candidate.py").write_text("open('ran', 'w').write('yes')\n")
    (tmp_path / "request.json").write_text(json.dumps({"candidate": "candidate.py", "plan": "surprise"}))
    done = _worker("kernelwright.workers.inspect_candidate", tmp_path)
    assert done.returncode == 0, done.stderr
    result = read_result(tmp_path, InspectResult)
    assert result["ok"] is False and result["stage"] == "request" and "plan" in result["error"]
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "request.json").exists()


def test_a_worker_deletes_its_request_before_the_candidate_runs_and_reports_through_its_model(tmp_path: Path) -> None:
    (tmp_path / "candidate.py").write_text(
        "import os, torch\n"
        "open('seen', 'w').write(f\"{os.path.exists('request.json')} {torch.get_float32_matmul_precision()}\")\n"
        "class ModelNew(torch.nn.Module):\n    pass\n")
    write_request(tmp_path, InspectRequest(allow_tf32=True))
    done = _worker("kernelwright.workers.inspect_candidate", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seen").read_text() == "False high"  # gone, and the precision rule applied before the load
    assert read_result(tmp_path, InspectResult) == {"ok": True, "specs": []}


def test_a_worker_whose_run_fails_still_reports(tmp_path: Path) -> None:
    write_request(tmp_path, InspectRequest(candidate="missing.py"))
    assert _worker("kernelwright.workers.inspect_candidate", tmp_path).returncode == 0
    result = read_result(tmp_path, InspectResult)
    assert result["ok"] is False and "missing.py" in result["error"]


@pytest.mark.parametrize("written, detail", [
    ('{"ok": "yes"}', "ok"),  # strict: a string is not a success
    ('{"ok": true, "seconds": "fast"}', "seconds"),
    ('[1, 2]', "list"),
    ('{"ok": tru', "protocol"),
])
def test_a_result_that_does_not_fit_its_model_is_a_failure_not_a_default(tmp_path: Path, written: str,
                                                                          detail: str) -> None:
    (tmp_path / "result.json").write_text(written)
    result = read_result(tmp_path, BuildResult)
    assert result["ok"] is False and result["stage"] == "protocol" and detail in result["error"]


def test_results_keep_their_own_fields_and_a_missing_or_linked_result_is_not_success(tmp_path: Path) -> None:
    assert read_result(tmp_path, WorkerResult) == {}
    (tmp_path / "result.json").write_text('{"ok": true, "calls": [{"id": "t0"}]}')
    assert read_result(tmp_path, WorkerResult) == {"ok": True, "calls": [{"id": "t0"}]}
    (tmp_path / "elsewhere.json").write_text('{"ok": true}')
    (tmp_path / "result.json").unlink()
    (tmp_path / "result.json").symlink_to(tmp_path / "elsewhere.json")
    assert read_result(tmp_path, WorkerResult)["ok"] is False
