"""`profile_candidate`: profiles exactly the candidate the Judge reads, for the Judge.

The candidate runs in an isolated profile worker (kernelwright.workers.profiling) with the extensions the
verifier built (the same build-cache entries: an identical source never recompiles, and the worker refuses
sources that do not match them), at the shape the verifier times: the task's nominal sizes on CUDA, its first
CPU-sized variant on the CPU. CUDA: the worker runs under Nsight Compute with the curated metric set of
`sandbox/profiler.toml`, filtered to the candidate's own `__global__` kernels; when ncu is missing, not
permitted, times out, fails or reports nothing, torch.profiler runs instead and `fallback` says why. CPU:
torch.profiler (own extension functions vs ATen ops). Never raises: trouble ends as `ok=False` with `error`.
What comes back was measured inside the candidate's sandbox (ncu's log sits in its job folder too): advice for
the Judge, never a verdict.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ..sandbox.build import BuildCache, BuildOutcome, build_all
from ..sandbox.extensions import ExtensionSpec, Toolchain, default_toolchain
from ..sandbox.isolation import (WorkerOutcome, load_limits, read_worker_text, run_isolated,
                                 thread_env, worker_threads)
from ..tasks import Task
from ..verify.attribution import kernel_names
from ..verify.models import VerificationResult
from ..verify.roofline import count_work, hardware_sheet
from .config import ProfilerConfig, load_profiler_config
from .models import KernelRow, ProfileReport
from .ncu import (NO_PERMISSION, NOT_FOUND, NcuTable, error_line, find_ncu, kernel_rows, missing_metrics, ncu_argv,
                  parse_ncu_csv, permission_denied)
from .position import roofline_position
from ..sandbox.protocol import ProfileRequest, WorkerResult, profile_request, read_result, write_request

ToolChoice = Literal["auto", "ncu", "torch"]
NCU_LOG = "ncu.log"


class ProfileError(Exception):
    """Nothing can be profiled (no build, wrong device, the worker failed); the message says why."""


def profile_candidate(task: Task, source: str, verification: VerificationResult, *, device: str,
                      cache: BuildCache | None = None, timeout_s: float = 180, tool: ToolChoice = "auto",
                      config: ProfilerConfig | None = None, overrides: dict[str, int] | None = None,
                      lane: str | None = None) -> ProfileReport:
    """Profiles the candidate `verification` judged. `tool`: "auto" is ncu on CUDA and torch.profiler on the
    CPU; "ncu" tries ncu on any device (falling back as on CUDA); "torch" is torch.profiler only.
    `timeout_s` bounds each worker run (the ncu run and, if needed, the torch.profiler run). `overrides`: task
    sizes to profile at instead of the ones the verifier times at. `lane`: the GPU the profile workers may see
    (None: the default device)."""
    started = time.perf_counter()
    report = ProfileReport(tool="torch.profiler", device=device, ok=False)
    try:
        report = _Session.open(task, source, verification, device, cache, config or load_profiler_config(),
                               timeout_s, overrides, lane).profile(tool)
    except ProfileError as exc:
        report.error = str(exc)[:2000]
    except Exception as exc:  # the profile is advice for the Judge: its failure must not end a run
        report.error = f"harness: {type(exc).__name__}: {exc}"[:2000]
    report.wall_s = time.perf_counter() - started
    return report


def profile_overrides(task: Task, device: str) -> dict[str, int]:
    """The sizes the verifier times at: nominal on CUDA, the first CPU-sized variant on the CPU."""
    if device.startswith("cuda"):
        return {}
    from ..verify.pipeline import correctness_shapes

    return dict(correctness_shapes(task, device)[0].overrides)


@dataclass
class _Ran:
    outcome: WorkerOutcome
    result: dict[str, Any]
    log: str = ""

    @property
    def text(self) -> str:
        return "\n".join([self.log, self.outcome.stdout_tail, self.outcome.stderr_tail])


@dataclass
class _Session:
    task: Task
    source: str
    verification: VerificationResult
    device: str
    config: ProfilerConfig
    timeout_s: float
    overrides: dict[str, int]
    extensions: list[dict[str, str]]
    own_kernels: list[str]
    lane: str | None = None
    notes: list[str] = field(default_factory=list)
    forward_ms: float | None = None  # the profile worker's plain per-call time
    truncated: bool = False  # ncu stopped at its launch-count limit

    @classmethod
    def open(cls, task: Task, source: str, verification: VerificationResult, device: str, cache: BuildCache | None,
             config: ProfilerConfig, timeout_s: float, overrides: dict[str, int] | None = None,
             lane: str | None = None) -> _Session:
        if not device.startswith(verification.device):
            raise ProfileError(f"the candidate was verified on {verification.device}, not {device}: "
                               "its builds are for another backend")
        extensions, notes = _extensions(task, source, verification, device, cache)
        return cls(task=task, source=source, verification=verification, device=device, config=config,
                   timeout_s=timeout_s, extensions=extensions,
                   overrides=profile_overrides(task, device) if overrides is None else dict(overrides),
                   own_kernels=kernel_names([source]), lane=lane, notes=notes)

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    # ------------------------------------------------------------------------------------------ paths

    def profile(self, tool: ToolChoice) -> ProfileReport:
        if tool == "torch" or (tool == "auto" and not self.cuda):
            report = self._torch(fallback=None)
        else:
            report = self._ncu()
        report.overrides = dict(self.overrides)
        report.notes = self.notes + report.notes
        if report.ok:
            self._roofline(report)
        return report

    def _ncu(self) -> ProfileReport:
        settings = self.config.ncu
        ncu, where = find_ncu(settings)
        if ncu is None:
            self.notes.append(f"ncu: {where}")
            return self._torch(fallback=NOT_FOUND)
        self.notes.append(f"ncu: {ncu} (from {where})")
        metrics = list(settings.metrics)
        ran = self._launch("ncu", min(self.timeout_s, settings.timeout_s), ncu=ncu, metrics=metrics)
        missing = [m for m in missing_metrics(ran.text) if m in metrics]
        if missing and settings.retry_missing_metrics and len(missing) < len(metrics):
            self.notes.append(f"metrics this GPU lacks, left out: {', '.join(missing)}")
            metrics = [m for m in metrics if m not in missing]
            ran = self._launch("ncu", min(self.timeout_s, settings.timeout_s), ncu=ncu, metrics=metrics)
        table, reason = self._read_ncu(ran)
        if table is None:
            return self._torch(fallback=reason)
        report = ProfileReport(tool="ncu", device=self.device, ok=True, metric_units=table.units,
                               kernels=kernel_rows(table, self.own_kernels),
                               profiled_calls=int(_number(ran.result.get("profiled_calls")) or settings.profiled_calls))
        self.forward_ms = _number(ran.result.get("forward_ms"))
        self.truncated = len(table.launches) >= settings.launch_count
        if self.truncated:
            report.notes.append(f"ncu stopped at its launch-count limit ({settings.launch_count} launches): "
                                "later kernels of the profiled calls are missing")
        unreported = [m for m in metrics if table.launches and not any(m in launch.metrics for launch in table.launches)]
        if unreported:  # ncu leaves out, without an error, metrics that do not apply to this GPU or kernel
            report.notes.append(f"metrics ncu did not report here, left out: {', '.join(unreported)}")
        if settings.kernel_filter == "own" and self.own_kernels:
            report.notes.append("ncu profiled only the candidate's own kernels (" + ", ".join(self.own_kernels) + ")")
        return report

    def _read_ncu(self, ran: _Ran) -> tuple[NcuTable | None, str]:
        """ncu's table, or None and the reason to fall back."""
        if ran.outcome.timed_out:
            return None, f"ncu timed out after {min(self.timeout_s, self.config.ncu.timeout_s):g} s"
        if permission_denied(ran.text):
            return None, NO_PERMISSION
        if ran.result and not ran.result.get("ok"):
            error = str(ran.result.get("error") or "no detail").splitlines()[0]
            return None, f"the candidate failed under ncu ({ran.result.get('stage', 'worker')}: {error})"[:400]
        if ran.outcome.returncode != 0 or not ran.result:
            why = ran.outcome.signal_name or f"exit {ran.outcome.returncode}"
            return None, f"ncu failed ({why}): {error_line(ran.text) or 'no output'}"[:400]
        table = parse_ncu_csv(ran.log)
        if not table.launches:
            detail = error_line(ran.log)
            return None, "ncu profiled no kernels" + (f" ({detail})" if detail else "")
        return table, ""

    def _torch(self, fallback: str | None) -> ProfileReport:
        settings = self.config.torch
        report = ProfileReport(tool="torch.profiler", device=self.device, ok=False, fallback=fallback)
        limit = min(self.timeout_s, settings.timeout_s)
        ran = self._launch("torch", limit)
        result = ran.result
        if ran.outcome.timed_out:
            report.error = f"the profile worker did not finish within {limit:g} s"
        elif not result:
            report.error = f"the profile worker left no result ({_crash_line(ran.outcome)})"
        elif not result.get("ok"):
            report.error = f"{result.get('stage', 'worker')}: {result.get('error') or 'failed'}"[:2000]
        else:
            try:
                report.kernels = [KernelRow.model_validate(row) for row in result.get("rows", [])]
            except ValidationError as exc:
                report.error = f"malformed rows from the profile worker ({exc.error_count()} errors)"
                return report
            report.ok = True
            report.profiled_calls = int(_number(result.get("profiled_calls")) or settings.profiled_calls)
            report.notes += [str(note)[:300] for note in result.get("notes", [])][:10]
            self.forward_ms = _number(result.get("forward_ms"))
            self.truncated = False
        return report

    # ------------------------------------------------------------------------------------------ worker

    def _launch(self, mode: str, timeout_s: float, *, ncu: str | None = None, metrics: list[str] | None = None) -> _Ran:
        limits = load_limits("profile")
        limits.timeout_s = timeout_s
        job = Path(tempfile.mkdtemp(prefix="kw-profile-"))
        try:
            (job / "candidate.py").write_text(self.source)
            write_request(job, self._request(mode, worker_threads(limits.threads)))
            argv = [sys.executable, "-m", "kernelwright.workers.profiling", str(job)]
            readable = sorted({Path(e["library"]).parent for e in self.extensions})
            if ncu is not None:
                argv = ncu_argv(ncu, self.config.ncu, metrics or [], self.own_kernels, job / NCU_LOG, argv)
                readable += sorted({Path(ncu).parent, Path(ncu).resolve().parent})
            outcome = run_isolated(argv, job_dir=job, limits=limits, gpu=self.cuda, lane=self.lane,
                                   readable_extra=readable,
                                   env_extra=thread_env(worker_threads(limits.threads), cuda=self.cuda))
            return _Ran(outcome=outcome, result=read_result(job, WorkerResult), log=read_worker_text(job, NCU_LOG))
        finally:
            shutil.rmtree(job, ignore_errors=True)

    def _request(self, mode: str, threads: int) -> ProfileRequest:
        settings = self.config.ncu if mode == "ncu" else self.config.torch
        return profile_request(mode, self.task, self.device, self.extensions, self.overrides,
                                      self.verification.seed, self.own_kernels, threads,
                                      warmup_calls=settings.warmup_calls, profiled_calls=settings.profiled_calls,
                                      timed_calls=self.config.torch.timed_calls,
                                      calibration_ranges=self.config.torch.calibration_ranges,
                                      nvtx_range=self.config.ncu.nvtx_range)

    # ------------------------------------------------------------------------------------------ roofline

    def _roofline(self, report: ProfileReport) -> None:
        time_ms, source = self._time(report)
        if time_ms is None:
            report.notes.append("no roofline: no per-call time was measured")
            return
        try:
            work = count_work(self.task, self.overrides)
        except Exception as exc:
            report.notes.append(f"no roofline: the reference could not be traced on the meta device "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"[:300])
            return
        report.roofline = roofline_position(work, self._sheet(), time_ms,
                                            allow_tf32=bool(self.task.declarations.allow_tf32), time_source=source)
        if report.roofline is None:
            report.notes.append("no roofline: no peaks known for this device (sandbox/hardware.toml)")
        elif not self.cuda:
            report.roofline.roof_note = ("CPU peaks are generous upper bounds (an L1-cache bandwidth, every core at "
                                         "full vector width): read the fractions as relative between candidates")
        if report.roofline is not None and work.flops == 0:
            report.notes.append("FLOPs count only matmul/conv/attention-like ops: this task counts 0, so the "
                                "compute roof says nothing here")

    def _time(self, report: ProfileReport) -> tuple[float | None, str]:
        """One forward()'s time: the verifier's own median at this shape if it timed one, else the kernels'
        durations per call (CUDA, when they cover every kernel), else the profile worker's plain calls."""
        timing = self.verification.timing or {}
        if (self.verification.perf == "PERF_VALID" and _number(timing.get("candidate_ms"))
                and dict(timing.get("shape_overrides") or {}) == self.overrides):
            return float(timing["candidate_ms"]), "verifier timing median"
        covers_all = report.tool == "torch.profiler" or (self.config.ncu.kernel_filter == "all" and not self.truncated)
        if self.cuda and report.kernels and covers_all and report.profiled_calls:
            per_call = sum(row.total_us for row in report.kernels) / report.profiled_calls / 1e3
            return per_call, f"{report.tool} kernel durations"
        where = "CUDA events" if self.cuda else "wall clock"
        return self.forward_ms, f"{where} in the profile worker" + (" (under ncu)" if report.tool == "ncu" else "")

    def _sheet(self) -> dict[str, Any]:
        hardware = (self.verification.timing or {}).get("hardware")
        if isinstance(hardware, dict) and hardware.get("device") == ("cuda" if self.cuda else "cpu"):
            return hardware
        return hardware_sheet(self.device)


def _extensions(task: Task, source: str, verification: VerificationResult, device: str,
                cache: BuildCache | None) -> tuple[list[dict[str, str]], list[str]]:
    """The verifier's builds, from the build cache: exactly what it ran. Rebuilt from the same source (into the
    same cache) only when an entry is gone."""
    if not verification.builds:
        raise ProfileError(f"nothing to profile: the verifier built no extension ({verification.verdict}: "
                           f"{verification.summary.splitlines()[0] if verification.summary else ''})")
    if not all(row.get("ok") for row in verification.builds):
        raise ProfileError("nothing to profile: the candidate did not build")
    toolchain = default_toolchain("cuda" if device.startswith("cuda") else "cpu",
                                  fast_math=task.declarations.allow_fast_math)
    stores = [cache] if cache is not None else []
    stores += [BuildCache(Path(row["library"]).parents[2]) for row in verification.builds if row.get("library")]
    found = [next((hit for store in stores if (hit := store.lookup(row["key"], toolchain)) and hit.ok), None)
             for row in verification.builds]
    if all(found):
        return [b.loader_entry() for b in found if b is not None], []
    builds = _rebuild(source, toolchain, stores[0] if stores else BuildCache())
    notes = ["the verified build was no longer in the build cache: rebuilt from the same source"]
    if [b.key for b in builds] != [row["key"] for row in verification.builds]:
        notes.append("the rebuilt extension's build key differs from the verified one (another toolchain?)")
    return [b.loader_entry() for b in builds], notes


def _rebuild(source: str, toolchain: Toolchain, cache: BuildCache) -> list[BuildOutcome]:
    from ..verify.pipeline import inspect_candidate

    inspected, outcome = inspect_candidate(source)
    if not inspected.get("ok"):
        why = inspected.get("error") or _crash_line(outcome)
        raise ProfileError(f"the candidate could not be inspected again: {why}")
    specs = [ExtensionSpec.model_validate(s) for s in inspected["specs"]]
    builds = build_all(specs, toolchain, cache)
    failed = next((b for b in builds if not b.ok), None)
    if failed is not None:
        raise ProfileError(f"the candidate's extension did not build again: {failed.errors or 'no detail'}")
    return builds


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _crash_line(outcome: Any) -> str:
    if getattr(outcome, "signal_name", None):
        return f"died with {outcome.signal_name}"
    tail = (getattr(outcome, "stderr_tail", "") or "").strip().splitlines()
    return tail[-1][:300] if tail else f"exit code {getattr(outcome, 'returncode', '?')}"
