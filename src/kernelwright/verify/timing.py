"""The timing phase: trusted input template and roofline here, two isolated timing workers taking turns, statistics
and verdict here.

`run_timing(...)` never raises for what a candidate does: a timeout, a crash, a malformed result or an integrity
flag all come back as a `TimingReport` with `perf="PERF_INVALID"` and the reason in `flags` / `error`.

Steps:
1. Trusted (`timing_prepare`, a subprocess): one input template at the timing sizes (shapes, integer inputs), the
   task's weights, the effective FLOPs and the hardware sheet; each worker gets its own copy.
2. Isolated, at the same time: the baseline worker (`baseline_worker`: the task's Model and torch.compile of it,
   never any candidate code) and the candidate's timing worker (`kernelwright.workers.timing`). The parent's conductor
   (`timing_turns`) gives one worker a turn at a time (warm-up, the method, one block of timed calls), the other
   stopped meanwhile, in an order that rotates per round, until the samples suffice. Every call gets fresh input
   content from a seed drawn just before it. After each timed candidate call the candidate's worker asks the
   dealer (`call_checks`, a thread here holding the secret seed) whether that call is checked, and hands back its
   outputs if so. Raw samples come back.
3. Here (`timing_judge`): median/IQR/mean per subject, paired speedup with a block-bootstrap confidence interval,
   the check of the handed-back outputs against the float64 reference on the same inputs, redrawn in a trusted
   process (`timing_checks`), the integrity checks (stream escape, timer consistency against the workers' and the
   parent's clocks, global flags, patched torch functions, roofline floor) and PERF_VALID / PERF_INVALID.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..sandbox.protocol import BaselineRequest, TimingRequest, write_request
from .flags import flag
from .roofline import Work, count_work
from .timing_prepare import derive_seed, prepare_inputs
from .timing_turns import Conductor, TurnLog
from .timing_report import (HARNESS_STAGES, REMEASURE_ABOVE, Method, Perf, SpeedupEstimate,  # noqa: F401  (re-exported)
                            SubjectTiming, TimingReport, TimingSettings, block_medians, paired_speedup, summarize)

Runner = Callable[..., Any]
TRUSTED_ROOT = Path("/tmp")  # hidden from isolated workers by their private /tmp


def run_timing(task: Any, candidate_source: str, builds: Sequence[Any], shape_overrides: dict[str, int],
               device: str, seed: int, *, compile_baseline: bool, threads: int | None = None,
               settings: TimingSettings | None = None, runner: Runner | None = None,
               lane: str | None = None) -> TimingReport:
    """Times a candidate that passed correctness against the task's Model (and torch.compile of it).

    `builds`: the BuildOutcome objects of the candidate's
    extensions. `seed`: the run's secret seed; it picks the template, the weights and the checked calls.
    `runner`: run_isolated or a stand-in with its signature (tests); it is called once per worker, from two threads.
    `lane`: the GPU the trusted steps and both workers use (None: the default device)."""
    from ..sandbox.isolation import CANDIDATE_JOB_PREFIX, candidate_threads, load_limits, run_isolated
    from .call_checks import Dealer
    from .timing_judge import judge

    settings = settings or TimingSettings()
    runner = runner or run_isolated
    limits = load_limits("timing")
    started = _now()
    report = TimingReport(device=device, shape_overrides=dict(shape_overrides), settings=settings.model_dump())
    dtype = task.declarations.dtype
    job = Path(tempfile.mkdtemp(prefix=CANDIDATE_JOB_PREFIX))
    base_job = Path(tempfile.mkdtemp(prefix="kw-baseline-"))
    trusted = Path(tempfile.mkdtemp(prefix="kw-trusted-", dir=TRUSTED_ROOT))
    (base_job / "inputs").mkdir()
    dealer = Dealer(seed=derive_seed(seed, "checks"), always=settings.checks_always)
    conductor = None
    try:
        work = _count(task, shape_overrides, report)
        prepared = prepare_inputs(task, shape_overrides, device, dtype, seed, base_job / "inputs", trusted,
                                  lane)
        if "error" in prepared:
            return _invalid(report, prepared["error"], started)
        # Each worker reads its own copy: the candidate's is in its reach, the baseline's and the trusted one are not.
        shutil.copytree(base_job / "inputs", job / "inputs")
        shutil.copyfile(base_job / "inputs" / "in_p0.pt", trusted / "template.pt")
        report.hardware = prepared.get("hardware", {})
        report.environment = prepared.get("environment", {})
        if work is not None and prepared.get("effective_flops") is not None:
            work.effective_flops = int(prepared["effective_flops"])
            report.effective_flops = work.effective_flops
        threads = threads or candidate_threads()
        report.threads = threads
        (job / "candidate.py").write_text(candidate_source)
        cuda = device.startswith("cuda")
        conductor = Conductor({"baseline": ["eager", "compile"] if compile_baseline else ["eager"],
                               "candidate": ["candidate"]},
                              settings.model_dump(), cuda=cuda, deadline_s=max(10.0, limits.timeout_s - 30.0))
        request = _worker_request(task, prepared, device, dtype, threads, shape_overrides, settings,
                                  limits.timeout_s)
        write_request(job, TimingRequest(**request, extensions=[b.loader_entry() for b in builds],
                                         channel=dealer.worker_fds, check_elements=settings.check_elements,
                                         turns=conductor.worker_fds("candidate")))
        write_request(base_job, BaselineRequest(**request, compile_baseline=bool(compile_baseline),
                                                turns=conductor.worker_fds("baseline")))
        if not cuda:
            report.notes.append("CPU: OMP_WAIT_POLICY=PASSIVE for every subject (two OpenMP runtimes share the cores)")
        # the built libraries may sit under /tmp (a test's cache), which isolated workers otherwise don't see
        libraries = sorted({str(Path(e["library"]).parent) for e in (b.loader_entry() for b in builds) if e.get("library")})
        dealer.start()
        launched = _launch(runner, {
            "baseline": ([sys.executable, "-m", "kernelwright.verify.baseline_worker", str(base_job)], base_job, [],
                         conductor.worker_fds("baseline")),
            "candidate": ([sys.executable, "-m", "kernelwright.workers.timing", str(job)], job,
                          [Path(p) for p in libraries], (*dealer.worker_fds, *conductor.worker_fds("candidate"))),
        }, limits, threads, cuda, trusted, conductor.pauses, lane)
        conductor.start({name: thread.is_alive for name, (thread, _) in launched.items()})
        outcomes = {name: _finish(thread, box) for name, (thread, box) in launched.items()}
        turns = conductor.join(timeout=30)
        dealer.stop()
        checks = {"task": task.model_dump(), "overrides": dict(shape_overrides), "device": device, "dtype": dtype,
                  "init": prepared["init"], "template": str(trusted / "template.pt"), "domains": request["domains"],
                  "limit": settings.check_elements}
        # the candidate's own failure (a crash, a timeout) is judged first; otherwise the baseline must be usable
        candidate_failed = getattr(outcomes["candidate"], "timed_out", False) or not (job / "result.json").is_file()
        if candidate_failed or _baseline_usable(report, outcomes["baseline"], base_job, turns):
            judge(report, task, outcomes["candidate"], job, trusted, work, dealer, checks, seed, settings,
                  limits.timeout_s, baseline=_baseline_result(base_job), turns=turns, lane=lane)
    except Exception as exc:  # a harness failure must still leave a report, never end the run
        report.flags.append(flag("timing_harness", f"timing failed ({type(exc).__name__}: {exc})"[:500]))
        report.error = report.error or f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        dealer.stop()
        if conductor is not None:
            conductor.close()
        for folder in (job, base_job, trusted):
            shutil.rmtree(folder, ignore_errors=True)
    valid = not report.flags and not report.error and "candidate" in report.subjects
    report.perf = "PERF_VALID" if valid else "PERF_INVALID"
    report.wall_s = _now() - started
    return report


def _worker_request(task: Any, prepared: dict[str, Any], device: str, dtype: str, threads: int,
                    overrides: dict[str, int], settings: TimingSettings, timeout_s: float) -> dict[str, Any]:
    """What both timing workers get: the model, the input template and its domains, the settings."""
    model_id = next(iter(prepared["reference"]["models"]))
    return {
        "device": device, "dtype": dtype, "threads": threads, "allow_tf32": bool(task.declarations.allow_tf32),
        "task": {"source": task.source, "path": task.path, "overrides": dict(overrides)},
        "model": {"init_inputs": f"inputs/init_{model_id}.pt", "state_dict": f"inputs/state_{model_id}.pt",
                  "seed": prepared["init"]},
        "template": "inputs/in_p0.pt",
        "domains": [task.declarations.domain_of(i) for i in range(_input_count(task))],
        "settings": {**settings.model_dump(include={"warmup_ms", "warmup_calls", "warmup_max_s", "block_calls"}),
                     "deadline_s": max(10.0, timeout_s - 20.0)},
    }


def _launch(runner: Runner, workers: dict[str, tuple[list[str], Path, list[Path], tuple[int, ...]]], limits: Any,
            threads: int, cuda: bool, trusted: Path,
            pauses: dict[str, Any], lane: str | None) -> dict[str, tuple[threading.Thread, dict[str, Any]]]:
    """Starts each worker through `runner` in a thread of its own (they run at the same time), on `lane`'s GPU."""
    from ..sandbox.isolation import thread_env

    launched: dict[str, tuple[threading.Thread, dict[str, Any]]] = {}
    for name, (argv, job, readable, fds) in workers.items():
        box: dict[str, Any] = {}
        options = {"job_dir": job, "limits": limits, "gpu": cuda, "lane": lane,
                   "env_extra": thread_env(threads, cuda=cuda),
                   **_runner_options(runner, readable, [trusted], fds, pauses[name].started)}

        def target(argv: list[str] = argv, options: dict[str, Any] = options, box: dict[str, Any] = box) -> None:
            try:
                box["outcome"] = runner(argv, **options)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=target, name=f"kw-timing-{name}", daemon=True)
        thread.start()
        launched[name] = (thread, box)
    return launched


def _finish(thread: threading.Thread, box: dict[str, Any]) -> Any:
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["outcome"]


def _baseline_result(base_job: Path) -> dict[str, Any]:
    from ..sandbox.isolation import read_worker_file

    try:
        result = json.loads(read_worker_file(base_job, "result.json", 32 * 2**20))
    except (OSError, ValueError):
        return {}
    return result if isinstance(result, dict) else {}


def _baseline_usable(report: TimingReport, outcome: Any, base_job: Path, turns: TurnLog) -> bool:
    """The baseline worker never loads candidate code: its failure is the harness's (or the machine's), reported
    as such. Returns whether timing can be judged."""
    if turns.violation:
        return True  # judged with the candidate: the tampering flag comes from there
    result = _baseline_result(base_job)
    if result.get("ok"):
        return True
    why = ("timed out" if getattr(outcome, "timed_out", False) else
           f"{result.get('stage', 'worker')}: {result.get('error') or 'no result'}")
    report.flags.append(flag("timing_harness", f"the baseline worker failed ({why})"[:500]))
    report.error = f"baseline: {why}"[:2000]
    return False


def preload_difference(correctness: Any, timing: Any) -> str | None:
    """How the correctness and the timing worker differed just before the candidate loaded, or None: they must be
    twins there (`workers.preload.preload_state`), or a candidate could behave differently in each."""
    if not isinstance(correctness, dict) or not isinstance(timing, dict):
        return None
    for key in sorted(set(correctness) | set(timing)):
        a, b = correctness.get(key), timing.get(key)
        if a == b:
            continue
        if isinstance(a, list) and isinstance(b, list):
            only = sorted(set(map(str, a)) ^ set(map(str, b)))[:5]
            return f"{key}: {', '.join(only) or 'order'} only in one"
        if isinstance(a, dict) and isinstance(b, dict):
            names = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))[:5]
            return f"{key}: {', '.join(names)} differ"
        return f"{key}: {a!r} vs {b!r}"[:300]
    return None


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


def _runner_options(runner: Runner, readable: list[Path], hidden: list[Path], pass_fds: tuple[int, ...],
                    on_start: Callable[[int], None] | None = None) -> dict[str, Any]:
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
    if on_start is not None and ("on_start" in params or open_ended):
        options["on_start"] = on_start
    return options


def _invalid(report: TimingReport, error: str, started: float) -> TimingReport:
    report.error = error
    report.flags.append(flag("timing_harness", error[:500]))
    report.perf = "PERF_INVALID"
    report.wall_s = _now() - started
    return report


def _now() -> float:
    import time

    return time.perf_counter()
