"""compute-sanitizer over a finalist: memcheck, racecheck and initcheck of the candidate's forward() at the
task's smallest shape, each tool in its own isolated run of the profile worker (mode "run").

The tools slow kernels 10-100x, so they run on finalists only (`sandbox/sanitizer.toml`). The tool's exit status
(`--error-exitcode`) says whether it found errors; its log says where. Errors count against the candidate unless
every one the tool counted is printed and placed in a library kernel: an error in one of the candidate's own
`__global__` kernels, or one the log does not account for (the worker shares the job folder with the log),
fails it. A tool that is missing, times out or fails without finding errors is recorded, never a verdict.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..executables import find_executable
from ..resources import data_dir
from ..sandbox.protocol import ProfileRequest, WorkerResult, profile_request, read_result, write_request
from ..sandbox.isolation import (Limits, WorkerOutcome, load_limits, read_worker_text, run_isolated,
                                 thread_env, worker_threads)

SANITIZER_ENV = "KERNELWRIGHT_SANITIZER"
ERROR_EXIT = 86
Tool = Literal["memcheck", "racecheck", "initcheck", "synccheck"]
_PREFIX = re.compile(r"^=+ ?")
_ERROR_SUMMARY = re.compile(r"ERROR SUMMARY:\s*(\d+) errors?")
_RACE_SUMMARY = re.compile(r"RACECHECK SUMMARY:.*?\((\d+) errors?")
_NOT_RECORDS = ("COMPUTE-SANITIZER", "ERROR SUMMARY", "RACECHECK SUMMARY", "LEAK SUMMARY", "Warning")


class SanitizerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=lambda: ["memcheck", "racecheck", "initcheck"])
    timeout_s: float = Field(default=300.0, gt=0)
    calls: int = Field(default=2, ge=1)
    print_limit: int = Field(default=100, ge=1)


class SanitizerCheck(BaseModel):
    tool: str
    status: Literal["clean", "errors", "failed"]
    errors: int = 0  # what the tool counted
    own_errors: int = 0  # printed errors placed in the candidate's own kernels
    library_errors: int = 0  # printed errors placed in other kernels
    first: list[str] = Field(default_factory=list)  # the first error that counts (or the first at all), as printed
    detail: str | None = None
    wall_s: float = 0.0


class SanitizerReport(BaseModel):
    executable: str | None = None
    note: str | None = None  # why nothing ran
    overrides: dict[str, int] = Field(default_factory=dict)
    checks: list[SanitizerCheck] = Field(default_factory=list)

    def failing(self) -> SanitizerCheck | None:
        return next((check for check in self.checks if check.status == "errors"), None)

    def line(self) -> str:
        if not self.checks:
            return f"sanitizer: not run ({self.note or 'no tools'})"
        parts = []
        for check in self.checks:
            text = f"{check.tool} {check.status}"
            if check.status == "errors":
                text += f" ({check.errors})"
            elif check.library_errors:
                text += f" ({check.library_errors} in library kernels)"
            parts.append(text)
        return "sanitizer: " + " · ".join(parts)


def load_sanitizer_settings(path: Path | None = None) -> SanitizerSettings:
    target = path or data_dir("sandbox") / "sanitizer.toml"
    return SanitizerSettings.model_validate(tomllib.loads(Path(target).read_text()))


def find_sanitizer(settings: SanitizerSettings) -> tuple[str | None, str]:
    """compute-sanitizer's path, or None; and where it came from (or why none was found)."""
    return find_executable("compute-sanitizer", SANITIZER_ENV, settings.paths, "sanitizer.toml")


def sanitizer_argv(executable: str, tool: str, settings: SanitizerSettings, log: Path, worker: list[str]) -> list[str]:
    return [executable, "--tool", tool, "--error-exitcode", str(ERROR_EXIT), "--print-limit", str(settings.print_limit),
            "--log-file", str(log), *worker]


def read_log(text: str, own_kernels: Sequence[str]) -> tuple[list[list[str]], list[list[str]], int | None]:
    """(error records in the candidate's kernels, error records in other kernels, the error count of the tool's
    last summary line). A record is a line of the tool's own output and the indented lines under it."""
    records: list[list[str]] = []
    current: list[str] | None = None
    count = None
    for raw in text.splitlines():
        if not _PREFIX.match(raw):
            current = None
            continue
        line = _PREFIX.sub("", raw, count=1).rstrip()
        summary = _ERROR_SUMMARY.search(line) or _RACE_SUMMARY.search(line)
        if summary:
            count = int(summary.group(1))
        if not line.strip():
            current = None
        elif line[0].isspace():
            if current is not None:
                current.append(line.strip())
        elif line.startswith(_NOT_RECORDS):
            current = None
        else:
            current = [line]
            records.append(current)
    names = re.compile(r"\b(" + "|".join(re.escape(n) for n in own_kernels) + r")\b") if own_kernels else None
    own = [r for r in records if names is not None and any(names.search(line) for line in r)]
    other = [r for r in records if r not in own]
    return own, other, count


def judge_check(tool: str, outcome: WorkerOutcome, log: str, result: dict[str, Any] | None,
                own_kernels: Sequence[str], timeout_s: float) -> SanitizerCheck:
    own, other, counted = read_log(log, own_kernels)
    check = SanitizerCheck(tool=tool, status="clean", own_errors=len(own), library_errors=len(other),
                           wall_s=outcome.wall_s)
    found = outcome.returncode == ERROR_EXIT or bool(counted)
    if outcome.timed_out:
        check.status, check.detail = "failed", f"did not finish within {timeout_s:g} s"
        if own:
            check.status, check.first = "errors", own[0][:8]
        return check
    if found:
        check.errors = counted if counted is not None else len(own) + len(other)
        if own or check.errors > len(other) or not other:
            check.status, check.first = "errors", (own or other or [[log.strip()[-300:] or "no log"]])[0][:8]
            if not own:
                check.detail = (f"the tool counted {check.errors} error(s) but printed {len(other)} the harness "
                                "could place, none of them in the candidate's kernels: the rest count against it")
        else:
            check.first = other[0][:8]
            check.detail = f"{len(other)} error(s), all in library kernels: not the candidate's"
        return check
    if outcome.returncode != 0 or not result or not result.get("ok"):
        why = (result or {}).get("error") or outcome.signal_name or f"exit {outcome.returncode}"
        check.status, check.detail = "failed", f"the run under {tool} failed: {str(why).splitlines()[0][:300]}"
    return check


def sanitize(task: Any, source: str, extensions: list[dict[str, str]], own_kernels: list[str], device: str,
             seed: int, overrides: dict[str, int], settings: SanitizerSettings | None = None,
             lane: str | None = None) -> SanitizerReport:
    """Runs each configured tool over the candidate's forward() at `overrides` (the smallest shape), on `lane`'s
    GPU."""
    settings = settings or load_sanitizer_settings()
    report = SanitizerReport(overrides=dict(overrides))
    executable, where = find_sanitizer(settings)
    if executable is None:
        report.note = where
        return report
    report.executable = executable
    limits = load_limits("sanitize")
    limits.timeout_s = min(limits.timeout_s or settings.timeout_s, settings.timeout_s)
    threads = worker_threads(limits.threads)
    request = profile_request("run", task, device, extensions, overrides, seed, own_kernels, threads,
                              warmup_calls=settings.calls)
    readable = sorted({Path(e["library"]).parent for e in extensions if e.get("library")}
                      | {Path(executable).parent, Path(executable).resolve().parent})
    for tool in settings.tools:
        report.checks.append(_run_tool(tool, executable, settings, source, request, limits, readable, own_kernels,
                                       cuda=device.startswith("cuda"), lane=lane))
    return report


def _run_tool(tool: str, executable: str, settings: SanitizerSettings, source: str, request: ProfileRequest,
              limits: Limits, readable: list[Path], own_kernels: list[str], *, cuda: bool,
              lane: str | None = None) -> SanitizerCheck:
    job = Path(tempfile.mkdtemp(prefix="kw-sanitize-"))
    started = time.monotonic()
    try:
        (job / "candidate.py").write_text(source)
        write_request(job, request)
        log = f"{tool}.log"
        worker = [sys.executable, "-m", "kernelwright.workers.profiling", str(job)]
        outcome = run_isolated(sanitizer_argv(executable, tool, settings, job / log, worker), job_dir=job, limits=limits,
                               gpu=cuda, lane=lane, readable_extra=readable,
                               env_extra=thread_env(request.threads or 1, cuda=cuda))
        # the log sits in the job folder the candidate can write: read it as any worker file (no symlinks, bounded)
        return judge_check(tool, outcome, read_worker_text(job, log), read_result(job, WorkerResult),
                           own_kernels, limits.timeout_s or 0)
    except Exception as exc:  # the check is extra evidence: its own failure must not end the verification
        return SanitizerCheck(tool=tool, status="failed", detail=f"harness: {type(exc).__name__}: {exc}"[:300],
                              wall_s=time.monotonic() - started)
    finally:
        shutil.rmtree(job, ignore_errors=True)
