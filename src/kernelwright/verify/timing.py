"""The timing phase: trusted input template and roofline here, an isolated timing worker, statistics and verdict here.

`run_timing(...)` never raises for what a candidate does: a timeout, a crash, a malformed result or an integrity
flag all come back as a `TimingReport` with `perf="PERF_INVALID"` and the reason in `flags` / `error`.

Steps:
1. Trusted: one input template at the timing sizes (shapes, integer inputs), the task's weights, the effective
   FLOPs and the hardware sheet, in a folder under /tmp that isolated workers cannot see.
2. Isolated (`kernelwright.verify.timing_worker`): warm-up, interleaved blocks of the eager baseline, the
   optional torch.compile baseline and the candidate, adaptive sample count. Every call gets fresh input
   content from a seed drawn just before it. After each timed candidate call the worker asks the dealer
   (`call_checks`, a thread here holding the secret seed) whether that call is checked, and hands back its outputs
   if so. Raw samples come back.
3. Here: median/IQR/mean per subject, paired speedup with a block-bootstrap confidence interval, the check of the
   handed-back outputs against the float64 reference on the same inputs, redrawn in a trusted process
   (`timing_checks`), the integrity checks (stream escape, timer consistency, global flags, patched torch
   functions, roofline floor) and PERF_VALID / PERF_INVALID.

Usage of the trusted helper process: python -m kernelwright.verify.timing prepare REQUEST_JSON
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from .flags import Flag, flag
from .stats import relative_standard_error
from .roofline import Floor, Work, below_floor, count_work, floor_margin, roofline_floor

TRUSTED_ROOT = Path("/tmp")  # hidden from isolated workers by their private /tmp
Method = Literal["perf_counter", "cuda_events", "cuda_graph"]
# Timing-worker stages that run before the candidate is imported: a failure there is the harness's, not the
# candidate's (every later stage runs in the candidate's process).
HARNESS_STAGES = ("reference Model", "input template")
REMEASURE_ABOVE = 3.0  # the protocol: a speedup over this many times eager counts only once re-measured
Perf = Literal["PERF_VALID", "PERF_INVALID"]


class TimingSettings(BaseModel):
    """Knobs of the timing protocol (the defaults follow the verification reference; the report states them)."""

    warmup_ms: float = 25.0
    warmup_calls: int = 10
    warmup_max_s: float = 5.0
    block_calls: int = 5
    min_samples: int = 30
    max_samples: int = 300
    max_seconds: float = 20.0
    target_rse: float = 0.01
    graph_below_ms: float = 0.05  # synced per-call time below which CUDA-graph replay is used
    graph_target_ms: float = 1.0
    graph_max_calls: int = 200
    checks_always: int = 60  # the first this many timed candidate calls are all checked, later call k with
                             # probability checks_always / (k + 1) (see call_checks)
    check_elements: int = 1 << 16  # a checked output with more elements hands back this many, drawn after the call
    bootstrap: int = 2000
    confidence: float = 0.95
    stream_escape_ms: float = 0.015  # candidate's (synced - plain) beyond eager's, above which work escaped
    stream_escape_fraction: float = 0.15
    sync_overhead_cap_ms: float = 0.05  # the worker's measured sync cost (and the eager gap) count up to this much
    remeasure_above: float = REMEASURE_ABOVE


class SubjectTiming(BaseModel):
    """One timed subject: eager (the task's Model), compile (torch.compile of it) or candidate."""

    median_ms: float
    iqr_ms: float
    mean_ms: float
    n: int
    rse: float | None = None  # IQR-based relative standard error of the median
    samples_ms: list[float]  # CUDA: the synced time less the sync's own cost, never below the plain time
    rounds: list[int] = Field(default_factory=list)  # the round (block) each sample belongs to
    synced_ms: list[float] | None = None  # CUDA: start -> end event recorded after a device-wide sync, as measured
    plain_ms: list[float] | None = None  # CUDA: start -> plain end event (no device-wide sync)
    plain_median_ms: float | None = None
    stream_ratio: float | None = None  # median plain / median synced
    warmup_calls: int | None = None


class TimingReport(BaseModel):
    device: str
    shape_overrides: dict[str, int]
    method: Method | None = None
    calls_per_sample: int = 1
    threads: int | None = None
    subjects: dict[str, SubjectTiming] = Field(default_factory=dict)
    speedup_eager: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    faster: bool | None = None  # True: CI above 1; False: CI below 1 (slower); None: CI holds 1 or no CI
    speedup_compile: float | None = None
    ci_compile_low: float | None = None
    ci_compile_high: float | None = None
    faster_than_compile: bool | None = None
    stream_ratio: float | None = None
    floor_ms: float | None = None
    floor: dict[str, Any] | None = None
    flops: int | None = None
    effective_flops: int | None = None
    bytes: int | None = None
    perf: Perf = "PERF_INVALID"
    flags: list[Flag] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    hardware: dict[str, Any] = Field(default_factory=dict)
    rechecked: int = 0  # timed candidate calls checked
    # The chance that checking catches a candidate that skips its work on any 5% of its timed calls, even the
    # ones least likely to be checked (which calls are checked is decided after each call; see call_checks).
    recheck_catches_5pct: float | None = None
    recheck_failures: list[str] = Field(default_factory=list)
    candidate_init_ms: float | None = None  # ModelNew(...) construction (weight preprocessing), timed apart
    compile_error: str | None = None
    compile_seconds: float | None = None
    stop_reason: str | None = None
    rounds: int = 0
    own_calls: dict[str, int] = Field(default_factory=dict)
    l2: dict[str, Any] | None = None  # CUDA: flush buffer size, how persisting L2 lines were reset
    sync_overhead_ms: float | None = None  # CUDA: what a device-wide sync adds to a synced sample (taken off)
    remeasure: bool = False  # the speedup exceeds settings.remeasure_above: it counts only once re-measured
    remeasured: list[float | None] = Field(default_factory=list)  # both speedups vs eager, when it was re-measured
    settings: dict[str, Any] = Field(default_factory=dict)
    wall_s: float = 0.0


class SpeedupEstimate(BaseModel):
    speedup: float
    ci_low: float | None
    ci_high: float | None
    faster: bool | None
    rounds: int


Runner = Callable[..., Any]


# ---------------------------------------------------------------------------------------------- statistics


def summarize(samples_ms: Sequence[float], plain_ms: Sequence[float | None] | None = None,
              rounds: Sequence[int] | None = None) -> SubjectTiming:
    values = np.asarray(samples_ms, dtype=float)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    timing = SubjectTiming(median_ms=float(median), iqr_ms=float(q3 - q1), mean_ms=float(values.mean()),
                           n=int(values.size), rse=relative_standard_error(values),
                           samples_ms=[float(v) for v in values],
                           rounds=[int(r) for r in rounds] if rounds is not None else [])
    if plain_ms is not None and len(plain_ms) == values.size and all(p is not None for p in plain_ms):
        plain = np.asarray(plain_ms, dtype=float)
        timing.plain_ms = [float(p) for p in plain]
        timing.plain_median_ms = float(np.median(plain))
        timing.stream_ratio = float(np.median(plain) / median) if median > 0 else None
    return timing


def block_medians(samples_ms: Sequence[float], rounds: Sequence[int]) -> dict[int, float]:
    groups: dict[int, list[float]] = {}
    for value, round_index in zip(samples_ms, rounds):
        groups.setdefault(int(round_index), []).append(float(value))
    return {r: float(np.median(v)) for r, v in groups.items()}


def paired_speedup(base_ms: Sequence[float], base_rounds: Sequence[int], cand_ms: Sequence[float],
                   cand_rounds: Sequence[int], *, seed: int, resamples: int = 2000,
                   confidence: float = 0.95) -> SpeedupEstimate:
    """speedup = median(base) / median(candidate); its CI from a paired bootstrap of the per-round block medians
    (the rounds are resampled with replacement; within a resample the ratio of the medians of the chosen block
    medians is taken). `faster` is True only when the whole interval lies above 1."""
    speedup = float(np.median(base_ms) / np.median(cand_ms))
    base_blocks, cand_blocks = block_medians(base_ms, base_rounds), block_medians(cand_ms, cand_rounds)
    shared = sorted(set(base_blocks) & set(cand_blocks))
    if len(shared) < 3:
        return SpeedupEstimate(speedup=speedup, ci_low=None, ci_high=None, faster=None, rounds=len(shared))
    base = np.array([base_blocks[r] for r in shared])
    cand = np.array([cand_blocks[r] for r in shared])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(shared), size=(max(1000, resamples), len(shared)))
    ratios = np.median(base[picks], axis=1) / np.median(cand[picks], axis=1)
    tail = (1.0 - confidence) / 2
    low, high = (float(v) for v in np.quantile(ratios, [tail, 1.0 - tail]))
    faster = True if low > 1.0 else False if high < 1.0 else None
    return SpeedupEstimate(speedup=speedup, ci_low=low, ci_high=high, faster=faster, rounds=len(shared))


# ---------------------------------------------------------------------------------------------- the phase


def run_timing(task: Any, candidate_source: str, builds: Sequence[Any], shape_overrides: dict[str, int],
               device: str, seed: int, *, compile_baseline: bool, threads: int | None = None,
               settings: TimingSettings | None = None, runner: Runner | None = None) -> TimingReport:
    """Times a candidate that passed correctness against the task's Model (and torch.compile of it).

    `builds`: the BuildOutcome objects of the candidate's
    extensions. `seed`: the run's secret seed; it picks the template, the weights and the checked calls.
    `runner`: run_isolated or a stand-in with its signature (tests)."""
    from ..sandbox.isolation import load_limits, run_isolated, thread_env, worker_threads
    from .call_checks import Dealer

    settings = settings or TimingSettings()
    runner = runner or run_isolated
    limits = load_limits("timing")
    started = _now()
    report = TimingReport(device=device, shape_overrides=dict(shape_overrides), settings=settings.model_dump())
    dtype = task.declarations.dtype
    job = Path(tempfile.mkdtemp(prefix="kw-timing-"))
    trusted = Path(tempfile.mkdtemp(prefix="kw-trusted-", dir=TRUSTED_ROOT))
    (job / "inputs").mkdir()
    dealer = Dealer(seed=derive_seed(seed, "checks"), always=settings.checks_always)
    try:
        work = _count(task, shape_overrides, report)
        prepared = _prepare(task, shape_overrides, device, dtype, seed, job / "inputs", trusted)
        if "error" in prepared:
            return _invalid(report, prepared["error"], started)
        shutil.copyfile(job / "inputs" / "in_p0.pt", trusted / "template.pt")  # the worker's copy is in its reach
        report.hardware = prepared.get("hardware", {})
        report.environment = prepared.get("environment", {})
        if work is not None and prepared.get("effective_flops") is not None:
            work.effective_flops = int(prepared["effective_flops"])
            report.effective_flops = work.effective_flops
        threads = threads or worker_threads(limits.threads)
        report.threads = threads
        (job / "candidate.py").write_text(candidate_source)
        model_id = next(iter(prepared["reference"]["models"]))
        request = {
            "candidate": "candidate.py", "device": device, "dtype": dtype, "threads": threads,
            "allow_tf32": bool(task.declarations.allow_tf32), "compile_baseline": bool(compile_baseline),
            "extensions": [b.loader_entry() for b in builds],
            "task": {"source": task.source, "path": task.path, "overrides": dict(shape_overrides)},
            "model": {"init_inputs": f"inputs/init_{model_id}.pt", "state_dict": f"inputs/state_{model_id}.pt",
                      "seed": prepared["init"]},
            "template": "inputs/in_p0.pt",
            "domains": [task.declarations.domain_of(i) for i in range(_input_count(task))],
            "channel": list(dealer.worker_fds), "check_elements": settings.check_elements,
            "settings": {**settings.model_dump(include={"warmup_ms", "warmup_calls", "warmup_max_s", "block_calls",
                                                        "min_samples", "max_samples", "max_seconds", "target_rse",
                                                        "graph_below_ms", "graph_target_ms", "graph_max_calls"}),
                         "deadline_s": max(10.0, limits.timeout_s - 20.0)},
        }
        (job / "request.json").write_text(json.dumps(request))
        if not device.startswith("cuda"):
            report.notes.append("CPU: OMP_WAIT_POLICY=PASSIVE for every subject (two OpenMP runtimes share the cores)")
        # the built libraries may sit under /tmp (a test's cache), which isolated workers otherwise don't see
        libraries = sorted({str(Path(e["library"]).parent) for e in request["extensions"] if e.get("library")})
        dealer.start()
        outcome = runner([sys.executable, "-m", "kernelwright.verify.timing_worker", str(job)], job_dir=job,
                         limits=limits, gpu=device.startswith("cuda"),
                         env_extra=thread_env(threads, cuda=device.startswith("cuda")),
                         **_runner_options(runner, [Path(p) for p in libraries], [trusted], dealer.worker_fds))
        dealer.stop()
        checks = {"task": task.model_dump(), "overrides": dict(shape_overrides), "device": device, "dtype": dtype,
                  "init": prepared["init"], "template": str(trusted / "template.pt"), "domains": request["domains"],
                  "limit": settings.check_elements}
        _judge(report, task, outcome, job, trusted, work, dealer, checks, seed, settings, limits.timeout_s)
    except Exception as exc:  # a harness failure must still leave a report, never end the run
        report.flags.append(flag("timing_harness", f"timing failed ({type(exc).__name__}: {exc})"[:500]))
        report.error = report.error or f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        dealer.stop()
        shutil.rmtree(job, ignore_errors=True)
        shutil.rmtree(trusted, ignore_errors=True)
    valid = not report.flags and not report.error and "candidate" in report.subjects
    report.perf = "PERF_VALID" if valid else "PERF_INVALID"
    report.wall_s = _now() - started
    return report


def settle_remeasure(first: TimingReport, second: TimingReport) -> TimingReport:
    """A speedup beyond `remeasure_above` counts only as re-measured in a fresh process with fresh inputs: the
    lower of the two measurements stands, with both speedups recorded, and a flag of either one stays a flag."""
    if second.perf == "PERF_VALID" and second.speedup_eager is not None:
        kept, other = sorted((first, second), key=lambda r: r.speedup_eager or 0.0)
    else:
        kept, other = second, first  # the re-measure failed: its flags and error make the verdict
    settled = kept.model_copy(deep=True)
    settled.remeasured = [first.speedup_eager, second.speedup_eager]
    settled.flags = list(dict.fromkeys(first.flags + second.flags))
    settled.perf = "PERF_VALID" if first.perf == second.perf == "PERF_VALID" else "PERF_INVALID"
    settled.remeasure = False
    settled.wall_s = first.wall_s + second.wall_s
    shown = " then ".join(f"{s:.2f}x" if s is not None else "no speedup" for s in settled.remeasured)
    settled.notes.append(f"speedup above {first.settings.get('remeasure_above', REMEASURE_ABOVE):g}x eager: re-measured in a "
                         f"fresh process ({shown} vs eager); the lower stands")
    if settled.perf == "PERF_VALID" and other.ci_low is not None and kept.ci_high is not None \
            and other.ci_low > kept.ci_high:
        settled.notes.append("the two measurements' intervals do not overlap: the machine's speed changed between "
                             "them, or the candidate's speed depends on its inputs")
    return settled


def _count(task: Any, overrides: dict[str, int], report: TimingReport) -> Work | None:
    try:
        work = count_work(task, overrides)
    except Exception as exc:
        report.notes.append(f"no roofline: the reference could not be traced on the meta device ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})"[:300])
        return None
    report.flops, report.bytes = work.flops, work.bytes
    return work


def _input_count(task: Any) -> int:
    if task.specs is not None:
        return len(task.specs.inputs)
    return 16  # domains past the real inputs are never read


def _runner_options(runner: Runner, readable: list[Path], hidden: list[Path],
                    pass_fds: tuple[int, ...]) -> dict[str, Any]:
    """run_isolated's options for extra read-only paths, masked paths and inherited descriptors, under the names
    it has."""
    import inspect

    try:
        params = inspect.signature(runner).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    options: dict[str, Any] = {}
    name = next((n for n in ("readable_extra", "readable") if n in params), "readable_extra" if open_ended else None)
    if name:
        options[name] = readable
    if "hidden" in params or open_ended:
        options["hidden"] = hidden
    if "pass_fds" in params or open_ended:
        options["pass_fds"] = pass_fds
    return options


def derive_seed(seed: int, purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:6], "big")


# ---------------------------------------------------------------------------------------------- trusted step


def _prepare(task: Any, overrides: dict[str, int], device: str, dtype: str, seed: int, inputs_dir: Path,
             trusted: Path) -> dict[str, Any]:
    from .plan import Plan, Shape, Trial
    from .trusted import ReferenceFailure, run_trusted

    init = derive_seed(seed, "weights") % 100_000 + 1
    plan = Plan(seed=seed, device=device, dtype=dtype, shapes=[Shape(name="timing", overrides=overrides)], inits=[init],
                trials=[Trial(id="p0", shape="timing", init=init, distribution="normal",
                              input_seed=derive_seed(seed, "pool0"))])
    request = {"task": task.model_dump(), "plan": plan.model_dump(), "inputs_dir": str(inputs_dir),
               "trusted_dir": str(trusted), "overrides": overrides, "device": device}
    path = trusted / "request.json"
    path.write_text(json.dumps(request))
    try:
        run_trusted("kernelwright.verify.timing", "prepare", str(path), what="the task's reference at the timing sizes")
    except ReferenceFailure as exc:
        return {"error": str(exc)}
    prepared = json.loads((trusted / "prepare.json").read_text())
    prepared["init"] = init
    return prepared


def prepare(request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a trusted subprocess: the input template (via the reference worker), effective FLOPs, hardware
    sheet, environment."""
    import torch

    from ..tasks import Task, instantiate
    from . import reference_worker
    from .roofline import count_effective_flops, hardware_sheet

    reference = reference_worker.run(request)
    device = request["device"]
    result: dict[str, Any] = {"reference": reference, "hardware": hardware_sheet(device),
                              "environment": _trusted_environment(device)}
    try:
        task = Task.model_validate(request["task"])
        plan = request["plan"]
        built = instantiate(task, request["overrides"], device=device, seed=plan["inits"][0], dtype=plan["dtype"])
        inputs = torch.load(Path(request["inputs_dir"]) / "in_p0.pt", weights_only=True)
        inputs = [v.to(device) if isinstance(v, torch.Tensor) else v for v in inputs]
        raw, effective = count_effective_flops(built.model, inputs)
        result.update(raw_flops=raw, effective_flops=effective)
    except Exception as exc:
        result["effective_flops_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return result


def _trusted_environment(device: str) -> dict[str, Any]:
    import platform

    import torch

    from .roofline import cpu_sheet

    env: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                           "cpu_model": cpu_sheet().get("name"), "cpu_count": os.cpu_count()}
    if device.startswith("cuda"):
        env["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
        env.update(_nvidia_smi())
    return env


def _nvidia_smi() -> dict[str, Any]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"clocks": "nvidia-smi not found"}
    try:
        done = subprocess.run([exe, "--query-gpu=name,clocks.sm,clocks.mem,clocks.max.sm,driver_version",
                               "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return {"clocks": f"nvidia-smi failed: {type(exc).__name__}"}
    line = (done.stdout.strip().splitlines() or [""])[0]
    parts = [p.strip() for p in line.split(",")]
    if done.returncode != 0 or len(parts) < 5:
        return {"clocks": f"nvidia-smi failed: {(done.stderr or done.stdout).strip()[:200]}"}
    return {"nvidia_smi_name": parts[0], "clock_sm": parts[1], "clock_mem": parts[2], "clock_sm_max": parts[3],
            "driver": parts[4]}


# ---------------------------------------------------------------------------------------------- judging


def _judge(report: TimingReport, task: Any, outcome: Any, job: Path, trusted: Path, work: Work | None,
           dealer: Any, checks: dict[str, Any], seed: int, settings: TimingSettings, timeout_s: float) -> None:
    from ..sandbox.isolation import read_worker_file
    from .timing_checks import judge_checks

    if dealer.violation:  # whatever else happened: something in the worker's process asked out of turn
        report.flags.append(flag("harness_tampered", f"the candidate tampered with the timing worker: "
                                 f"{dealer.violation}"))

    if getattr(outcome, "isolation", None) is not None and outcome.isolation.filesystem != "confined":
        report.notes.append("no filesystem isolation: the worker could read the trusted expected outputs")
    if outcome.timed_out:
        report.flags.append(flag("timing_timeout", f"the timing worker did not finish within {timeout_s:g} s"))
        report.error = "timeout"
        return
    try:
        result = json.loads(read_worker_file(job, "result.json", 32 * 2**20))
    except (OSError, ValueError) as exc:  # unlike read_worker_json, the reason is part of the evidence here
        why = getattr(outcome, "signal_name", None) or f"exit code {outcome.returncode}"
        tail = (outcome.stderr_tail or "").strip().splitlines()[-1:] or [""]
        code = "timing_memory" if getattr(outcome, "memory_exceeded", False) else "timing_crash"
        report.flags.append(flag(code, f"the timing worker left no readable result ({why}; {type(exc).__name__})"))
        report.error = f"{why}: {tail[0]}"[:2000]
        return
    if not isinstance(result, dict):
        report.flags.append(flag("timing_malformed", "the timing worker's result is not an object"))
        return
    report.environment["worker_reported"] = result.get("environment", {})
    report.l2 = result.get("l2") if isinstance(result.get("l2"), dict) else None
    if isinstance(result.get("init_ms"), (int, float)):
        report.candidate_init_ms = float(result["init_ms"])
    report.notes += [str(n)[:500] for n in result.get("notes", [])][:20]
    compile_info = result.get("compile") or {}
    report.compile_error = compile_info.get("error")
    report.compile_seconds = compile_info.get("seconds")
    if compile_info.get("requested") and not compile_info.get("ok"):
        report.notes.append(f"no torch.compile baseline: {report.compile_error or 'compilation failed'}")
    if not result.get("ok"):
        stage = result.get("stage", "worker")
        report.error = f"{stage}: {result.get('error') or 'failed'}"[:2000]
        if stage == "call channel":  # the harness's own pipe, broken from inside the worker: not a crash of its own
            if not dealer.violation:
                report.flags.append(flag("harness_tampered", "the candidate tampered with the timing worker: its "
                                         f"call channel failed ({result.get('error') or 'no detail'})"[:500]))
            return
        code = "timing_setup_error" if stage in HARNESS_STAGES else "timing_runtime_error"
        if code == "timing_runtime_error" and result.get("out_of_memory"):
            code = "timing_memory"
        report.flags.append(flag(code, f"({stage})" if code == "timing_runtime_error" else stage))
        return
    try:
        _read_samples(report, result, settings)
    except (KeyError, TypeError, ValueError) as exc:
        report.flags.append(flag("timing_malformed", f"the timing worker's samples are unusable ({type(exc).__name__}: {exc})"[:300]))
        return
    _speedups(report, seed, settings)
    _integrity(report, result, outcome, settings)
    _floor(report, work, task)
    judge_checks(report, task, result, job, trusted, dealer, checks, work.output_bytes if work else None)
    report.remeasure = report.speedup_eager is not None and report.speedup_eager > settings.remeasure_above


def _read_samples(report: TimingReport, result: dict[str, Any], settings: TimingSettings) -> None:
    method = result.get("method")
    if method not in ("perf_counter", "cuda_events", "cuda_graph"):
        raise ValueError(f"unknown method {method!r}")
    report.method = method
    report.calls_per_sample = int(result.get("calls_per_sample", 1))
    report.threads = int(result.get("threads", report.threads or 0)) or report.threads
    report.stop_reason = result.get("stop_reason")
    report.rounds = int(result.get("rounds", 0))
    overhead = _sync_overhead(report, result, settings)
    for name, entry in result.get("subjects", {}).items():
        if name not in ("eager", "compile", "candidate") or "samples_ms" not in entry:
            continue
        samples = entry["samples_ms"]
        if not samples or len(samples) > settings.max_samples + settings.block_calls:
            raise ValueError(f"{name}: {len(samples)} samples")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in samples):
            raise ValueError(f"{name}: non-positive or non-finite samples")
        rounds = entry.get("rounds") or []
        if len(rounds) != len(samples):
            raise ValueError(f"{name}: rounds do not match samples")
        plain = entry.get("plain_ms")
        synced = None
        if overhead is not None and plain is not None:
            if len(plain) != len(samples) or not all(isinstance(p, (int, float)) and 0 < p <= v
                                                     for p, v in zip(plain, samples)):
                raise ValueError(f"{name}: plain-event times that do not fit inside the synced ones")
            synced = [float(v) for v in samples]
            samples = [max(float(p), v - overhead) for v, p in zip(synced, plain)]
        timing = summarize(samples, plain, rounds)
        timing.synced_ms = synced
        timing.warmup_calls = (entry.get("warmup") or {}).get("calls")
        report.subjects[name] = timing
    if "candidate" not in report.subjects or "eager" not in report.subjects:
        raise ValueError("the candidate or the eager baseline has no samples")
    report.stream_ratio = report.subjects["candidate"].stream_ratio
    if report.subjects["candidate"].n < settings.min_samples:
        report.notes.append(f"only {report.subjects['candidate'].n} candidate samples ({report.stop_reason})")


def _sync_overhead(report: TimingReport, result: dict[str, Any], settings: TimingSettings) -> float | None:
    """Per sample: the sync cost the worker measured (per call of a CUDA-graph sample), at most the cap, so a
    worker that overstates it cannot hide more than that much of a call."""
    measured = result.get("sync_overhead_ms")
    if report.method == "perf_counter" or measured is None:
        return None
    if not isinstance(measured, (int, float)) or not math.isfinite(measured) or measured < 0:
        raise ValueError(f"sync overhead {measured!r}")
    if measured > settings.sync_overhead_cap_ms:
        report.notes.append(f"the device-wide sync took {measured * 1e3:.1f} us; only "
                            f"{settings.sync_overhead_cap_ms * 1e3:.0f} us are taken off each synced sample")
    report.sync_overhead_ms = min(float(measured), settings.sync_overhead_cap_ms)
    return report.sync_overhead_ms / max(1, report.calls_per_sample)


def _speedups(report: TimingReport, seed: int, settings: TimingSettings) -> None:
    cand = report.subjects["candidate"]
    for base_name, prefix in (("eager", ""), ("compile", "compile")):
        base = report.subjects.get(base_name)
        if base is None:
            continue
        estimate = paired_speedup(base.samples_ms, base.rounds, cand.samples_ms, cand.rounds,
                                  seed=derive_seed(seed, f"bootstrap-{base_name}"), resamples=settings.bootstrap,
                                  confidence=settings.confidence)
        if prefix:
            report.speedup_compile, report.ci_compile_low, report.ci_compile_high = (
                estimate.speedup, estimate.ci_low, estimate.ci_high)
            report.faster_than_compile = estimate.faster
        else:
            report.speedup_eager, report.ci_low, report.ci_high = estimate.speedup, estimate.ci_low, estimate.ci_high
            report.faster = estimate.faster
        if estimate.ci_low is None:
            report.notes.append(f"too few rounds ({estimate.rounds}) for a confidence interval against {base_name}")


def _integrity(report: TimingReport, result: dict[str, Any], outcome: Any, settings: TimingSettings) -> None:
    state = result.get("state") or {}
    before = state.get("before") or {}
    for label in ("after_import", "after"):
        for key, value in (state.get(label) or {}).items():
            if key in before and before[key] != value:
                changed = flag("global_state", f"{key} {before[key]!r} -> {value!r}")
                if changed not in report.flags:
                    report.flags.append(changed)
    patched = [str(p) for p in result.get("patched") or []]
    if patched:
        report.flags.append(flag("monkeypatch", f"the candidate replaced {', '.join(patched[:8])}"))
    bad = [str(b) for b in result.get("bad_outputs") or []]
    if bad:
        report.flags.append(flag("lazy_outputs", bad[0]))
    own = result.get("own_calls_setup") if report.method == "cuda_graph" else result.get("own_calls")
    report.own_calls = {str(k): int(v) for k, v in (own or {}).items()}
    if not report.own_calls:
        report.flags.append(flag("ghost_kernel", "no function of the candidate's own extension ran during timing"))
    # Timer consistency: each block's host wall clock contains its timed calls; so does the worker's lifetime.
    total_events = 0.0
    for block in result.get("blocks") or []:
        wall, events = float(block.get("wall_ms", 0)), float(block.get("events_ms", 0))
        total_events += events
        if events > wall * 1.01 + 0.05:
            report.flags.append(flag("timer_inconsistency", f"{block.get('subject')} block {block.get('round')} "
                                     f"timed {events:.3f} ms inside {wall:.3f} ms of wall clock"))
            break
    if total_events > float(getattr(outcome, "wall_s", math.inf)) * 1e3 * 1.01:
        report.flags.append(flag("timer_inconsistency", f"{total_events / 1e3:.2f} s timed in a worker that ran "
                                 f"{outcome.wall_s:.2f} s"))
    if report.method in ("cuda_events", "cuda_graph"):
        _stream_check(report, settings)


def _stream_check(report: TimingReport, settings: TimingSettings) -> None:
    """Work launched on another stream is missed by the plain end event but not by the one recorded after a
    device-wide sync. The eager baseline (one stream) gives the honest gap: the sync's own overhead."""
    cand, eager = report.subjects["candidate"], report.subjects["eager"]
    if cand.plain_ms is None or eager.plain_ms is None:
        report.flags.append(flag("stream_check_impossible", "the worker returned no plain-event times"))
        return
    gap = float(np.median(np.subtract(cand.samples_ms, cand.plain_ms)))
    honest = min(float(np.median(np.subtract(eager.samples_ms, eager.plain_ms))), settings.sync_overhead_cap_ms)
    escaped = gap - honest
    if escaped > max(settings.stream_escape_ms, settings.stream_escape_fraction * cand.median_ms):
        report.flags.append(flag("stream_injection", f"{escaped:.3f} ms of the candidate's {cand.median_ms:.3f} ms "
                                 f"per call finishes after its own stream's end event (plain/synced "
                                 f"{cand.stream_ratio:.2f})"))


def _floor(report: TimingReport, work: Work | None, task: Any) -> None:
    if work is None or not report.hardware:
        return
    floor: Floor = roofline_floor(work, report.hardware, dtype=task.declarations.dtype,
                                  allow_tf32=task.declarations.allow_tf32, method=report.method or "cuda_events")
    report.floor = floor.model_dump()
    if floor.floor_s <= 0:
        report.notes.append(f"no roofline floor: {floor.note or 'no peaks'}")
        return
    report.floor_ms = floor.floor_s * 1e3
    median_s = report.subjects["candidate"].median_ms / 1e3
    if below_floor(median_s, floor):
        report.flags.append(flag("below_roofline", f"{median_s * 1e3:.4f} ms per call is below "
                                 f"{floor_margin():g} x the roofline floor {floor.floor_s * 1e3:.4f} ms "
                                 f"({floor.bound}-bound)"))


def _invalid(report: TimingReport, error: str, started: float) -> TimingReport:
    report.error = error
    report.flags.append(flag("timing_harness", error[:500]))
    report.perf = "PERF_INVALID"
    report.wall_s = _now() - started
    return report


def _now() -> float:
    import time

    return time.perf_counter()


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] != "prepare":
        raise SystemExit("usage: python -m kernelwright.verify.timing prepare REQUEST_JSON")
    request_path = Path(sys.argv[2])
    request = json.loads(request_path.read_text())
    result = prepare(request)
    (Path(request["trusted_dir"]) / "prepare.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
