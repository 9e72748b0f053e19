"""`verify`: static gate, inspect, build, correctness and (for a PASS) timing, ending in one verdict."""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel

from ..backend import Backend
from ..sandbox.build import BuildCache, BuildOutcome, build_all
from ..sandbox.context import ExecutionContext
from ..sandbox.extensions import ExtensionSpec, default_toolchain
from ..sandbox.isolation import load_limits, probe_isolation, run_isolated
from ..sandbox.protocol import InspectRequest, InspectResult, read_result, write_request
from ..sandbox.static_gate import static_gate
from ..sandbox.torch_state import matmul_precision
from ..tasks import Task, cpu_scale_variants, specs_at, task_variants
from .attribution import kernel_names
from .correctness import CorrectnessRun, DiskSpaceError, new_seed, run_correctness
from .flags import Flag, flag
from .kernelbench import run_kernelbench_timing
from .models import VerificationResult
from .plan import Shape, sized_shape
from .policy import load_attribution_policy
from .timing import (REMEASURE_ABOVE, TimingReport, TimingSettings, derive_seed, preload_difference, run_timing,
                     settle_remeasure)
from .trusted import ReferenceFailure
from .verdict import (CorrectnessOutcome, PhaseOutcomes, Preparation, SanitizerFinding, decide_preparation,
                      decide_verdict, proceeds)


class VerifyOptions(BaseModel):
    device: Backend = "cpu"
    time_candidate: bool = True
    compile_baseline: bool = True
    seed: int | None = None
    build_workers: int = 2
    remeasure_above: float = REMEASURE_ABOVE  # a speedup over this many times eager is timed again in a fresh process
    sanitize: bool = False  # compute-sanitizer over a correct candidate (finalists: sandbox/sanitizer.toml)
    timing_protocol: Literal["kernelwright", "kernelbench"] = "kernelwright"  # kernelbench: its figures beside ours
    static_gate: bool = True  # False, for testing only: the later phases must hold without the gate's rejections


class VerifierError(Exception):
    """The harness or the task (not the candidate) could not be verified; one line for the user."""


def verify(task: Task, candidate_source: str, options: VerifyOptions, cache: BuildCache | None = None,
           context: ExecutionContext | None = None) -> VerificationResult:
    """`context`: the lane its GPU workers use, the guard held around timing, who is told each phase as it ends
    (see ExecutionContext; None: no lane, no guard, nobody told)."""
    started = time.perf_counter()
    result = _verify(task, candidate_source, options, cache or BuildCache(), context or ExecutionContext())
    result.wall_s = time.perf_counter() - started
    return result


def prebuild(task: Task, candidate_source: str, options: VerifyOptions, cache: BuildCache,
             context: ExecutionContext | None = None) -> VerificationResult | list[BuildOutcome]:
    """Compiles a candidate's extensions into the cache on CPU workers, so that `verify` later finds them built.

    Lets an evaluation compile one candidate while the GPU verifies another. It runs verify's own gate and build
    phases and returns their early verdict (static reject, import failure, compile failure) or the builds; a
    failed build is cached too, so it is not compiled twice. Only `context.on_phase` matters here: no GPU, no timing.
    """
    phases = _Phases(context or ExecutionContext())
    built = _gate_and_build(task, candidate_source, options, cache, phases)
    if isinstance(built, VerificationResult):
        built.phase_seconds = phases.seconds
        return built
    return built.builds


class _Phases:
    """Wall time of each phase, kept as evidence of where verification time goes; `context.on_phase` is told each
    phase as it ends."""

    def __init__(self, context: ExecutionContext) -> None:
        self.context = context
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 4)
        self._last = now
        self.context.on_phase(name)


def _verify(task: Task, source: str, options: VerifyOptions, cache: BuildCache,
            context: ExecutionContext) -> VerificationResult:
    phases = _Phases(context)
    result = _run_phases(task, source, options, cache, phases)
    result.phase_seconds = phases.seconds
    return result


class _Built(NamedTuple):
    specs: list[ExtensionSpec]
    builds: list[BuildOutcome]
    build_rows: list[dict]
    findings: list[dict]
    flags: list[Flag]
    base: dict


def _gate_and_build(task: Task, source: str, options: VerifyOptions, cache: BuildCache,
                    phases: _Phases) -> VerificationResult | _Built:
    """Static gate, inspection, native gate and build: an early verdict, or what the candidate built."""
    backend = options.device
    base = dict(task=task.ref, task_hash=task.hash, device=options.device,
                isolation=probe_isolation().model_dump())
    flags = _isolation_flags(base["isolation"])
    allow = {"allow_fast_math"} if task.declarations.allow_fast_math else set()
    gate = static_gate(source, backend=backend, allow=allow)
    phases.mark("static")
    findings = [f.model_dump() for f in gate.findings]
    flags += [flag("gate", f"{f.rule}: {f.message}") for f in gate.findings if f.severity == "flag"]

    def stopped(found: Preparation, **fields: object) -> VerificationResult:
        verdict, reason, summary = decide_preparation(found)
        return VerificationResult(verdict=verdict, reason=reason, summary=summary, findings=findings, flags=flags,
                                  **fields, **base)

    if gate.rejected and options.static_gate:
        first = next(f for f in gate.findings if f.severity == "reject")
        return stopped(Preparation(stage="gate", failure="rejected", rule=first.rule, detail=_finding_line(first)))

    inspected, outcome = inspect_candidate(source)
    phases.mark("inspect")
    if outcome.timed_out:
        return stopped(Preparation(stage="import", failure="timeout", timeout_s=load_limits("inspect").timeout_s))
    if not inspected.get("ok"):
        error = inspected.get("error") or _crash_line(outcome)
        return stopped(Preparation(stage="import", failure="crashed", detail=error or ""), error=error)
    specs = [ExtensionSpec.model_validate(s) for s in inspected["specs"]]
    if not specs:
        return stopped(Preparation(stage="import", failure="no_extension"))
    native = static_gate(source, [src for s in specs for src in s.cpp_sources + s.cuda_sources], backend=backend,
                         flags=[f for s in specs for asked in s.requested_flags.values() for f in asked], allow=allow)
    findings = [f.model_dump() for f in native.findings]
    flags += [g for g in (flag("gate", f"{f.rule}: {f.message}") for f in native.findings if f.severity == "flag")
              if g not in flags]
    if native.rejected and options.static_gate:
        first = next(f for f in native.findings if f.severity == "reject")
        return stopped(Preparation(stage="gate", failure="rejected", rule=first.rule, detail=_finding_line(first)))

    toolchain = default_toolchain(backend, fast_math=task.declarations.allow_fast_math)
    builds = build_all(specs, toolchain, cache, workers=options.build_workers)
    phases.mark("build")
    build_rows = [b.model_dump(exclude={"log", "toolchain"}) for b in builds]
    failed = next((b for b in builds if not b.ok), None)
    if failed is not None:
        return stopped(Preparation(stage="build", failure="timeout" if failed.timed_out else "compile_error",
                                   detail=failed.errors or "", timeout_s=load_limits("build").timeout_s),
                       error=failed.errors, builds=build_rows)
    return _Built(specs, builds, build_rows, findings, flags, base)


def _run_phases(task: Task, source: str, options: VerifyOptions, cache: BuildCache, phases: _Phases) -> VerificationResult:
    built = _gate_and_build(task, source, options, cache, phases)
    if isinstance(built, VerificationResult):
        return built
    specs, builds, build_rows, findings, flags, base = built
    lane = phases.context.lane
    seed = options.seed if options.seed is not None else new_seed()
    own_kernels = kernel_names([src for spec in specs for src in spec.cuda_sources])
    try:
        shapes = correctness_shapes(task, options.device)
        run = run_correctness(task, source, builds, shapes, options.device, seed, own_kernels=own_kernels,
                              lane=lane)
    except (ReferenceFailure, DiskSpaceError) as exc:
        raise VerifierError(str(exc)) from None
    phases.mark("correctness")
    found = correctness_outcome(run)
    result = VerificationResult(verdict="PASS", summary="", correctness=run.report, seed=seed, builds=build_rows,
                                findings=findings, flags=flags, error=None if found.timed_out else found.error,
                                precision=worker_precision(run.worker, task), **base)
    outcomes = PhaseOutcomes(correctness=found, own_share=run.report.own_kernel_share, level=task.level,
                             min_own_share=load_attribution_policy().min_own_share.get(task.level or 0),
                             library_shares=run.report.attribution.get("library_shares") or {},
                             confined=base["isolation"].get("filesystem") == "confined")
    _settle(result, outcomes)
    if proceeds(outcomes) and options.sanitize:
        outcomes.sanitizer = _sanitize(task, source, builds, own_kernels, options.device, seed, result, lane)
        phases.mark("sanitize")
        _settle(result, outcomes)
    if proceeds(outcomes) and options.time_candidate:
        settings = TimingSettings(remeasure_above=options.remeasure_above)
        timed = lambda timing_seed: run_timing(  # noqa: E731
            task, source, builds, shapes[0].overrides, options.device, timing_seed,
            compile_baseline=options.compile_baseline, settings=settings, lane=lane)
        with phases.context.timing_guard():
            timing = timed(seed)
            if timing.remeasure:
                timing = settle_remeasure(timing, timed(derive_seed(seed, "remeasure")))
        twins = preload_difference(run.worker.get("preload"), timing.preload)
        if twins and "candidate" in timing.subjects:  # both workers got as far as the load
            timing.flags.append(flag("worker_twins", twins))
            timing.perf = "PERF_INVALID"
        phases.mark("timing")
        result.timing = {**timing.model_dump(mode="json"), **timing_summary(timing, run.report.own_kernel_share)}
        result.perf = timing.perf
        result.flags += [f.model_copy(update={"message": f"TIMING: {f.message}"}) for f in timing.flags]
        outcomes.timing_flags = timing.flags
        _settle(result, outcomes)
        if proceeds(outcomes) and options.timing_protocol == "kernelbench":
            figures = run_kernelbench_timing(task, source, builds, shapes[0].overrides, options.device,
                                             derive_seed(seed, "kernelbench"), lane=lane)
            result.kernelbench = figures.model_dump(mode="json")
            phases.mark("kernelbench timing")
    return result


def _settle(result: VerificationResult, outcomes: PhaseOutcomes) -> None:
    result.verdict, result.reason, result.summary = decide_verdict(outcomes)


def _sanitize(task: Task, source: str, builds: list[BuildOutcome], own_kernels: list[str], device: str, seed: int,
              result: VerificationResult, lane: str | None = None) -> SanitizerFinding | None:
    """compute-sanitizer at the task's smallest shape; an error in the candidate's own kernels is a finding."""
    from .sanitize import sanitize

    small = cpu_scale_variants(task)
    overrides = dict(small[0].overrides) if small else {}
    report = sanitize(task, source, [b.loader_entry() for b in builds], own_kernels, device, seed, overrides, lane=lane)
    result.sanitizer = report.model_dump(mode="json")
    failing = report.failing()
    if failing is None:
        return None
    return SanitizerFinding(tool=failing.tool, errors=failing.errors, first=list(failing.first),
                            sizes=", ".join(f"{k}={v}" for k, v in overrides.items()) or "nominal sizes")


def worker_precision(worker: dict, task: Task) -> str:
    """The float32 matmul precision the candidate's workers ran under: what the correctness worker read back before
    the load (the timing worker's twin check holds it to the same), else the rule it was asked to apply."""
    state = (worker.get("preload") or {}).get("torch_state") or {}
    found = state.get("float32_matmul_precision")
    return str(found) if isinstance(found, str) else matmul_precision(bool(task.declarations.allow_tf32))


def timing_summary(timing: TimingReport, own_share: float | None) -> dict:
    """The headline numbers, under the names the JSON output and reports use."""
    subjects = timing.subjects
    median = lambda name: subjects[name].median_ms if name in subjects else None  # noqa: E731
    return {"protocol": "kernelwright", "candidate_ms": median("candidate"), "eager_ms": median("eager"),
            "compile_ms": median("compile"), "own_kernel_share": own_share}


def correctness_shapes(task: Task, device: str) -> list[Shape]:
    if device == "cpu":
        variants = cpu_scale_variants(task)
        if not variants:
            raise VerifierError(f"{task.ref}: no CPU-sized variant (declare VARIANTS['small'])")
        return [Shape(name=v.name, overrides=v.overrides) for v in variants]
    report = task_variants(task)
    try:
        nominal = specs_at(task, {})
    except Exception:  # the sizes only steer the plan's file budget; the reference run reports a real failure
        nominal = None
    shapes = [sized_shape("nominal", {}, nominal, task.declarations.dtype)]
    shapes += [sized_shape(v.name, v.overrides, v.specs, task.declarations.dtype)
               for v in report.variants if v.specs and v.name != "small"]
    return shapes[:4]


def correctness_outcome(run: CorrectnessRun) -> CorrectnessOutcome:
    """The correctness phase's findings as data for decide_verdict."""
    worker_ok = bool(run.worker.get("ok"))
    return CorrectnessOutcome(
        timed_out=run.outcome is not None and run.outcome.timed_out, timeout_s=load_limits("correctness").timeout_s,
        worker_ok=worker_ok, stage=str(run.worker.get("stage", "worker")), report=run.report,
        error=None if worker_ok else (run.worker.get("error") or _crash_line(run.outcome)),
        out_of_memory=not worker_ok and (bool(run.worker.get("out_of_memory"))
                                         or bool(getattr(run.outcome, "memory_exceeded", False))))


def inspect_candidate(source: str) -> tuple[dict, object]:
    """The extensions a candidate's import asks for, recorded in an isolated worker.

    A successful inspection is remembered by source hash, so an evaluation's prebuild and the verification after
    it import the candidate once. Trusting the first answer is safe: a candidate whose import asks for other
    sources later fails to load them, since the workers load only builds whose keys match.
    """
    key = hashlib.sha256(source.encode()).hexdigest()
    with _INSPECTED_LOCK:
        if key in _INSPECTED:
            return _INSPECTED[key]
    job = Path(tempfile.mkdtemp(prefix="kw-inspect-"))
    try:
        (job / "candidate.py").write_text(source)
        write_request(job, InspectRequest())
        outcome = run_isolated([sys.executable, "-m", "kernelwright.workers.inspect_candidate", str(job)],
                               job_dir=job, limits=load_limits("inspect"), gpu=False)
        found = read_result(job, InspectResult) or {"ok": False, "error": None}, outcome
    finally:
        shutil.rmtree(job, ignore_errors=True)
    if found[0].get("ok") and not outcome.timed_out:
        with _INSPECTED_LOCK:
            if len(_INSPECTED) >= INSPECTIONS_KEPT:
                _INSPECTED.pop(next(iter(_INSPECTED)))
            _INSPECTED[key] = found
    return found


INSPECTIONS_KEPT = 256
_INSPECTED: dict[str, tuple[dict, object]] = {}
_INSPECTED_LOCK = threading.Lock()


def _crash_line(outcome: object) -> str:
    signal_name = getattr(outcome, "signal_name", None) or getattr(outcome, "signal", None)
    if signal_name:
        return f"the candidate process died with {signal_name}"
    tail = (getattr(outcome, "stderr_tail", "") or "").strip().splitlines()
    return tail[-1] if tail else f"the candidate process exited with code {getattr(outcome, 'returncode', '?')}"


def _finding_line(finding: object) -> str:
    line = getattr(finding, "line", None)
    where = f" (line {line})" if line else ""
    return f"{getattr(finding, 'rule')}{where}: {getattr(finding, 'message')}"


def _isolation_flags(info: dict) -> list[Flag]:
    flags = []
    if info.get("network") != "isolated":
        flags.append(flag("isolation_network", "no network namespace available; the candidate ran with network access"))
    if info.get("filesystem") != "confined":
        flags.append(flag("isolation_filesystem", "writes were not confined to the job folder on this machine"))
    return flags
