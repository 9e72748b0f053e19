"""`kernelwright selftest`: run the adversarial suite (tests/adversarial) through `verify` and report what it caught.

The suite is data: `tests/adversarial/manifest.toml` lists every candidate file with the task it targets, its
exploit class and the verdicts that count as caught (controls expect PASS). `run_selftest` verifies each case
the way the product does and returns a `SelftestReport`: per case what came back, whether it was caught, and
the catch rate over exploits and the false positives over controls.

Cases run in a few long-lived worker processes (`python -m kernelwright.selftest --serve`), several at a
time: each `verify` already spawns its own isolated workers, and separate orchestrator processes keep global
state (stdout redirection while task files load, the canary variable of the escape case) out of each other's
way. The one slow case (a hang, held for the whole correctness time limit) overlaps the rest. The build cache
is shared: every compiled cpu candidate uses one C++ source, so it is compiled once.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from .backend import Backend


SUITE_DIR = Path(__file__).resolve().parents[2] / "tests" / "adversarial"
MANIFEST = "manifest.toml"
DEFAULT_WORKERS = {"cpu": 3, "cuda": 1}


class SelftestError(Exception):
    """The suite cannot run here (missing files, no GPU for --device cuda); one line for the user."""


class AdversarialCase(BaseModel):
    """One entry of the manifest."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    file: str
    task: str
    device: Backend
    klass: str = Field(alias="class")
    expected: list[str]
    control: bool = False
    reasons: list[str] = Field(default_factory=list)
    gap: str | None = None
    timing: bool = False
    escape: list[str] = Field(default_factory=list)
    canary_env: str | None = None
    ungated: bool = False  # verified a second time with the static gate off: a later phase must catch it too
    max_speedup: float | None = None  # a PASS whose valid speedup over eager is at most this is no fake speedup

    def holds(self, result: Any, verdicts: list[str]) -> bool:
        """Whether a verification's outcome is one this case accepts as caught."""
        if result.verdict in verdicts or (result.perf is not None and result.perf in verdicts):
            return True
        speedup = result.valid_speedup_eager
        return self.max_speedup is not None and speedup is not None and speedup <= self.max_speedup

    @property
    def name(self) -> str:
        return Path(self.file).stem


class CaseResult(BaseModel):
    """What one case got. For a control `caught` means it passed as it should (PASS, and not PERF_INVALID)."""

    file: str
    klass: str = Field(serialization_alias="class")
    device: Backend
    control: bool
    expected: list[str]
    got: str  # the verdict, or "ERROR" when the harness itself failed
    reason: str | None = None
    perf: str | None = None
    caught: bool
    known_gap: str | None = None
    seconds: float
    summary: str = ""
    evidence: list[str] = Field(default_factory=list)
    missing_evidence: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    without_gate: str | None = None  # an `ungated` case's verdict with the static gate off
    speedup: float | None = None  # the valid speedup over eager, when timed
    speedup_without_gate: float | None = None


class SelftestReport(BaseModel):
    device: Backend
    cases: list[CaseResult]
    seconds: float
    isolation: dict[str, Any] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exploits(self) -> int:
        return sum(1 for c in self.cases if not c.control)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def caught(self) -> int:
        return sum(1 for c in self.cases if not c.control and c.caught)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def catch_rate(self) -> float:
        return self.caught / self.exploits if self.exploits else 1.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def false_positives(self) -> list[str]:
        """Controls that did not PASS."""
        return [c.file for c in self.cases if c.control and not c.caught]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def missed(self) -> list[str]:
        """Exploits that were not caught (known gaps included)."""
        return [c.file for c in self.cases if not c.control and not c.caught]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unexpected(self) -> list[str]:
        """Results that differ from the manifest: missed exploits that are not known gaps, known gaps that
        were caught after all (remove the gap entry), and false positives."""
        return [c.file for c in self.cases
                if (c.control and not c.caught) or (not c.control and c.caught == bool(c.known_gap))]


# ------------------------------------------------------------------------------------------ the suite on disk


def suite_dir(root: Path | None = None) -> Path:
    """The adversarial suite: `tests/adversarial` of the checkout kernelwright runs from."""
    folder = Path(root) if root is not None else SUITE_DIR
    if not (folder / MANIFEST).is_file():
        raise SelftestError(f"the adversarial suite is missing ({folder / MANIFEST} not found); selftest needs a "
                            "source checkout of kernelwright (tests/adversarial is not installed with the package)")
    return folder


def load_manifest(root: Path | None = None) -> list[AdversarialCase]:
    folder = suite_dir(root)
    try:
        data = tomllib.loads((folder / MANIFEST).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SelftestError(f"{folder / MANIFEST} is unreadable: {exc}") from None
    try:
        cases = [AdversarialCase.model_validate(entry) for entry in data.get("case", [])]
    except ValueError as exc:
        raise SelftestError(f"{folder / MANIFEST} is invalid: {exc}") from None
    seen: set[str] = set()
    for case in cases:
        if case.file in seen:
            raise SelftestError(f"{folder / MANIFEST} lists {case.file} twice")
        seen.add(case.file)
        if not (folder / case.file).is_file():
            raise SelftestError(f"{folder / MANIFEST} lists {case.file}, which does not exist")
    return cases


def cases_for(device: str, root: Path | None = None, names: Iterable[str] | None = None) -> list[AdversarialCase]:
    """The manifest's cases for one device, optionally only those whose file or stem is in `names`."""
    cases = [c for c in load_manifest(root) if c.device == device]
    if names is not None:
        wanted = set(names)
        unknown = wanted - {c.file for c in cases} - {c.name for c in cases}
        if unknown:
            raise SelftestError(f"no {device} case named {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.file in wanted or c.name in wanted]
    return cases


# ------------------------------------------------------------------------------------------ one case


def evidence_of(result: Any) -> set[str]:
    """What a verdict rests on: its reason, every mismatch reason of the correctness failures, every failed
    probe and every rejecting static rule."""
    evidence = {result.reason} if result.reason else set()
    report = result.correctness
    if report is not None:
        evidence.update(m.reason for failure in report.failures for m in failure.mismatches)
        evidence.update(name for name, value in report.probes.items() if value != "ok")
    evidence.update(f.get("rule", "") for f in result.findings if f.get("severity") == "reject")
    evidence.discard("")
    return evidence


def run_case(case: AdversarialCase, *, cache_root: str | Path | None = None, root: Path | None = None,
             seed: int | None = None) -> CaseResult:
    """Verifies one case and judges the outcome against the manifest. Never raises for what the candidate or
    the verifier does: a harness error comes back as got="ERROR"."""
    from .sandbox.build import BuildCache
    from .tasks import load_task
    from .verify.flags import messages
    from .verify.pipeline import VerifyOptions, verify

    folder = suite_dir(root)
    started = time.perf_counter()
    notes: list[str] = []
    for marker in case.escape:
        if not _remove(Path(marker)):
            notes.append(f"could not remove a leftover {marker} before the run")
    canary_before = os.environ.get(case.canary_env) if case.canary_env else None
    if case.canary_env:
        os.environ[case.canary_env] = "kw-selftest-canary"
    try:
        task = load_task(folder.parents[1] / case.task)
        options = VerifyOptions(device=case.device, time_candidate=case.timing, compile_baseline=False, seed=seed)
        cache = BuildCache(Path(cache_root)) if cache_root is not None else None
        result = verify(task, (folder / case.file).read_text(), options, cache)
        ungated = verify(task, (folder / case.file).read_text(), options.model_copy(update={"static_gate": False}),
                         cache) if case.ungated else None
    except Exception as exc:  # a harness failure is a result of the selftest too
        return CaseResult(file=case.file, klass=case.klass, device=case.device, control=case.control,
                          expected=case.expected, got="ERROR", caught=False, known_gap=case.gap,
                          seconds=time.perf_counter() - started, summary=f"{type(exc).__name__}: {exc}", notes=notes)
    finally:
        if case.canary_env:
            if canary_before is None:
                os.environ.pop(case.canary_env, None)
            else:
                os.environ[case.canary_env] = canary_before
    if case.control:  # a control must PASS, and must not come back PERF_INVALID when it is timed
        caught = result.verdict in case.expected and result.speedup_counts
    else:
        caught = case.holds(result, case.expected)
    if ungated is not None:
        caught = caught and case.holds(ungated, [v for v in case.expected if v != "STATIC_REJECT"])
        notes.append(f"without the static gate: {ungated.verdict} ({ungated.reason}): {ungated.summary.splitlines()[0]}"
                     if ungated.summary else f"without the static gate: {ungated.verdict} ({ungated.reason})")
    escaped = [m for m in case.escape if os.path.lexists(m)]
    if escaped:
        caught = False
        notes.append("written outside the job dir: " + ", ".join(escaped))
        for marker in escaped:
            _remove(Path(marker))
    evidence = evidence_of(result)
    return CaseResult(
        file=case.file, klass=case.klass, device=case.device, control=case.control, expected=case.expected,
        got=result.verdict, reason=result.reason, perf=result.perf, caught=caught, known_gap=case.gap,
        seconds=time.perf_counter() - started, summary=result.summary.splitlines()[0] if result.summary else "",
        evidence=sorted(evidence), missing_evidence=sorted(set(case.reasons) - evidence) if caught else [],
        flags=messages(result.flags), notes=notes, without_gate=ungated.verdict if ungated is not None else None,
        speedup=_timed_speedup(result), speedup_without_gate=_timed_speedup(ungated) if ungated is not None else None,
    )


def _timed_speedup(result: Any) -> float | None:
    value = (result.timing or {}).get("speedup_eager")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()
    except OSError:
        return False
    return True


# ------------------------------------------------------------------------------------------ the whole suite

RESULT_PREFIX = "KW-SELFTEST-RESULT "


def _error_result(case: AdversarialCase, started: float, summary: str) -> CaseResult:
    return CaseResult(file=case.file, klass=case.klass, device=case.device, control=case.control,
                      expected=case.expected, got="ERROR", caught=False, known_gap=case.gap,
                      seconds=time.perf_counter() - started, summary=summary)


class _CaseWorker:
    """A `python -m kernelwright.selftest --serve` process: reads cases (JSON lines) on stdin, runs each with
    `run_case`, writes one result line per case. torch and the harness are imported once per worker."""

    def __init__(self, cache_root: str | Path, root: Path | None) -> None:
        argv = [sys.executable, "-m", "kernelwright.selftest", "--serve", "--cache", str(cache_root)]
        if root is not None:
            argv += ["--root", str(root)]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, bufsize=1)

    def run(self, case: AdversarialCase) -> CaseResult:
        started = time.perf_counter()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(case.model_dump_json(by_alias=True) + "\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if RESULT_PREFIX in line:
                    return CaseResult.model_validate_json(line.split(RESULT_PREFIX, 1)[1])
        except (OSError, ValueError) as exc:
            return _error_result(case, started, f"the selftest worker failed: {type(exc).__name__}: {exc}")
        self.proc.wait()
        return _error_result(case, started, f"the selftest worker died (exit {self.proc.returncode}): {self._tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._stderr.close()

    def _tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"


class CaseRunner:
    """Runs cases `workers` at a time, each worker a separate Python process (started when first needed,
    replaced if it dies). `submit` returns a Future[CaseResult]; `shutdown` ends the workers."""

    def __init__(self, cache_root: str | Path, *, workers: int = 3, root: Path | None = None) -> None:
        self._cache_root, self._root = cache_root, root
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="kw-selftest")
        self._idle: queue.Queue[_CaseWorker | None] = queue.Queue()
        for _ in range(max(1, workers)):
            self._idle.put(None)
        self._all: list[_CaseWorker] = []
        self._lock = threading.Lock()

    def submit(self, case: AdversarialCase) -> Future[CaseResult]:
        return self._pool.submit(self._run, case)

    def _run(self, case: AdversarialCase) -> CaseResult:
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.close()
                worker = _CaseWorker(self._cache_root, self._root)
                with self._lock:
                    self._all.append(worker)
            return worker.run(case)
        finally:
            self._idle.put(worker)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()


def start_cases(cases: list[AdversarialCase], *, cache_root: str | Path, workers: int = 3,
                root: Path | None = None) -> tuple[CaseRunner, dict[str, Future[CaseResult]]]:
    """Starts every case on a `CaseRunner`; returns it and one future per case file at once.

    The first control (or first compiled case) runs alone first so the shared extension is built once, not
    once per worker; the others are submitted when it is done, slow cases (hangs) first so they overlap the
    rest."""
    runner = CaseRunner(cache_root, workers=workers, root=root)
    warm = next((c for c in cases if c.control), None) or next(
        (c for c in cases if c.expected != ["STATIC_REJECT"]), None)
    rest = sorted((c for c in cases if c is not warm), key=lambda c: c.klass != "hang")
    if warm is None:
        return runner, {case.file: runner.submit(case) for case in rest}
    first = runner.submit(warm)
    later: dict[str, Future[CaseResult]] = {case.file: Future() for case in rest}

    def release(_: Future[CaseResult]) -> None:
        for case in rest:
            try:
                _forward(runner.submit(case), later[case.file])
            except RuntimeError as exc:  # the runner was shut down meanwhile
                later[case.file].set_exception(exc)

    first.add_done_callback(release)
    return runner, {warm.file: first, **later}


def _forward(source: Future[CaseResult], target: Future[CaseResult]) -> None:
    def copy(done: Future[CaseResult]) -> None:
        if done.cancelled():
            target.cancel()
        elif done.exception() is not None:
            target.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            target.set_result(done.result())

    source.add_done_callback(copy)


def run_selftest(device: str, *, cache: Any = None,
                 progress: Callable[[AdversarialCase, CaseResult], None] | None = None,
                 cases: Iterable[str] | None = None, workers: int | None = None,
                 root: Path | None = None) -> SelftestReport:
    """Runs the adversarial suite for `device` ("cpu" or "cuda") and reports the catch rate.

    `cache`: a BuildCache (or a folder) shared by the cases; by default the harness's own build cache.
    `progress(case, result)` is called as each case finishes. `cases` picks files (or stems) of the manifest.
    """
    from .sandbox.build import BuildCache, default_cache_dir
    from .sandbox.isolation import probe_isolation

    if device not in ("cpu", "cuda"):
        raise SelftestError(f"device must be cpu or cuda, not {device!r}")
    selected = cases_for(device, root, cases)
    if not selected:
        raise SelftestError(f"the adversarial suite has no {device} cases")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SelftestError("selftest --device cuda needs a CUDA GPU; none is visible here")
    if cache is None:
        cache_root = default_cache_dir().resolve()
    elif isinstance(cache, BuildCache):
        cache_root = cache.root
    else:
        cache_root = Path(cache).resolve()
    started = time.perf_counter()
    runner, futures = start_cases(selected, cache_root=cache_root, workers=workers or DEFAULT_WORKERS[device],
                                  root=root)
    by_file = {c.file: c for c in selected}
    results: dict[str, CaseResult] = {}
    try:
        pending = dict(futures)
        while pending:
            for file, future in list(pending.items()):
                if future.done():
                    results[file] = _outcome(by_file[file], future)
                    del pending[file]
                    if progress is not None:
                        progress(by_file[file], results[file])
            if pending:
                time.sleep(0.2)
    finally:
        runner.shutdown(wait=True, cancel_futures=True)
    return SelftestReport(device=device, cases=[results[c.file] for c in selected],  # type: ignore[arg-type]
                          seconds=time.perf_counter() - started, isolation=probe_isolation().model_dump())


def _outcome(case: AdversarialCase, future: Future[CaseResult]) -> CaseResult:
    try:
        return future.result()
    except Exception as exc:  # could not even start the case's process: report it, keep going
        return CaseResult(file=case.file, klass=case.klass, device=case.device, control=case.control,
                          expected=case.expected, got="ERROR", caught=False, known_gap=case.gap, seconds=0.0,
                          summary=f"the selftest process for this case failed: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> None:
    """A selftest worker (see `_CaseWorker`): python -m kernelwright.selftest --serve --cache DIR [--root DIR]."""
    parser = argparse.ArgumentParser(prog="python -m kernelwright.selftest")
    parser.add_argument("--serve", action="store_true", required=True, help="run cases read as JSON lines on stdin")
    parser.add_argument("--cache", required=True, help="the build cache folder")
    parser.add_argument("--root", default=None, help="the suite folder (default: tests/adversarial of the checkout)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else None
    for line in sys.stdin:
        if not line.strip():
            continue
        case = AdversarialCase.model_validate(json.loads(line))
        result = run_case(case, cache_root=args.cache, root=root)
        sys.stdout.write(RESULT_PREFIX + result.model_dump_json() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
