"""Judging the timing workers' results (trusted, in the orchestrator): one merged result from the baseline
worker, the candidate's timing worker and the parent's turns; samples and their sanity; paired speedups with
block-bootstrap intervals; integrity checks (global state, patched functions, output types, own calls, timers
against the workers' and the parent's clocks, stream escape) and the roofline floor."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .flags import flag
from .roofline import Floor, Work, below_floor, floor_margin, roofline_floor
from .timing_report import HARNESS_STAGES, TimingReport, TimingSettings, paired_speedup, summarize
from .timing_prepare import derive_seed
from .timing_turns import TurnLog


def judge(report: TimingReport, task: Any, outcome: Any, job: Path, trusted: Path, work: Work | None,
           dealer: Any, checks: dict[str, Any], seed: int, settings: TimingSettings, timeout_s: float, *,
           baseline: dict[str, Any], turns: TurnLog, lane: str | None = None) -> None:
    from ..sandbox.isolation import read_worker_file
    from .timing_checks import judge_checks

    if dealer.violation:  # whatever else happened: something in the worker's process asked out of turn
        report.flags.append(flag("harness_tampered", f"the candidate tampered with the timing worker: "
                                 f"{dealer.violation}"))
    if turns.violation:
        report.flags.append(flag("harness_tampered", f"the candidate tampered with the turns: {turns.violation}"))

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
    result = _merged(result, baseline, turns)
    report.preload = result.get("preload") if isinstance(result.get("preload"), dict) else None
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
        if result.get("candidate_method") != result.get("method"):
            raise ValueError(f"the candidate was timed by {result.get('candidate_method')!r}, the baseline by "
                             f"{result.get('method')!r}")
        _read_samples(report, result, settings)
    except (KeyError, TypeError, ValueError) as exc:
        report.flags.append(flag("timing_malformed", f"the timing worker's samples are unusable ({type(exc).__name__}: {exc})"[:300]))
        return
    _speedups(report, seed, settings)
    _integrity(report, result, outcome, settings)
    _floor(report, work, task)
    judge_checks(report, task, result, job, trusted, dealer, checks, work.output_bytes if work else None, lane=lane)
    report.remeasure = report.speedup_eager is not None and report.speedup_eager > settings.remeasure_above


def _merged(candidate: dict[str, Any], baseline: dict[str, Any], turns: TurnLog) -> dict[str, Any]:
    """One result from both workers and the parent's turns: the candidate's samples and observations from its
    worker, the baselines' samples, the sync cost, the L2 and compile notes from the baseline worker (which never
    loads candidate code), the method, the rounds and the stop reason from the turns (the workers' own word only
    where no turns were logged: stand-in runners in tests)."""
    subjects = {name: entry for name, entry in (baseline.get("subjects") or {}).items() if name in ("eager", "compile")}
    if "candidate" in (candidate.get("subjects") or {}):
        subjects["candidate"] = candidate["subjects"]["candidate"]
    method = turns.method or baseline.get("method")
    merged = {**candidate, "subjects": subjects, "method": method, "candidate_method": candidate.get("method"),
              "calls_per_sample": turns.calls_per_sample if turns.method else baseline.get("calls_per_sample", 1),
              "rounds": turns.rounds if turns.method else baseline.get("rounds", 0),
              "stop_reason": turns.stop_reason or turns.error or baseline.get("stop_reason"),
              "sync_overhead_ms": baseline.get("sync_overhead_ms"), "l2": baseline.get("l2"),
              "compile": baseline.get("compile") or {},
              "notes": [*(baseline.get("notes") or []), *turns.notes, *(candidate.get("notes") or [])],
              "blocks": [*(b for b in baseline.get("blocks") or [] if b.get("subject") != "candidate"),
                         *(b for b in candidate.get("blocks") or [] if b.get("subject") == "candidate")],
              "turn_wall_ms": {f"{r.subject}:{r.round}": r.wall_ms for r in turns.turns if r.kind == "block"}}
    if turns.error and not turns.stop_reason:
        merged["notes"].append(f"the turns ended early: {turns.error}")
    return merged


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
    turn_wall = result.get("turn_wall_ms") or {}
    for block in result.get("blocks") or []:  # and the parent's clock around each turn contains its block
        wall = turn_wall.get(f"{block.get('subject')}:{block.get('round')}")
        if wall is not None and float(block.get("events_ms", 0)) > wall * 1.01 + 0.05:
            report.flags.append(flag("timer_inconsistency", f"{block.get('subject')} block {block.get('round')} "
                                     f"timed {float(block.get('events_ms', 0)):.3f} ms in a turn of {wall:.3f} ms"))
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
