"""The timing phase: statistics, the orchestrator's judgement of worker results, and real CPU runs.

The end-to-end tests build the shared C++ softmax extension of `candidates.py` once (module fixture) and run
the timing worker through `run_isolated`. No test asserts a wall-clock threshold: only the structure of the
report, the verdict and the flags.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from kernelwright.sandbox.isolation import IsolationInfo, WorkerOutcome, run_isolated
from kernelwright.sandbox.sealed import ANSWER, ASK, ASK_MAGIC, index_sampler, read_shapes, seal
from kernelwright.tasks import load_task
from kernelwright.sandbox import torch_state
from kernelwright.verify import timing_turns
from kernelwright.verify.call_checks import Dealer, catch_bound, check_probability
from kernelwright.verify.distributions import seeded_draws
from kernelwright.verify.flags import Flag, flag
from kernelwright.verify.stats import relative_standard_error
from kernelwright.verify.timing import (
    TimingSettings,
    paired_speedup,
    TimingReport,
    run_timing,
    settle_remeasure,
    summarize,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from candidates import HONEST, candidate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
SMALL = SOFTMAX.declarations.variants["small"]
QUICK = TimingSettings(min_samples=20, max_samples=100, max_seconds=2.0, warmup_max_s=1.0)


# ---------------------------------------------------------------------------------------------- statistics


def _rounds(values_per_round: int, rounds: int) -> list[int]:
    return [r for r in range(rounds) for _ in range(values_per_round)]


def test_bootstrap_interval_brackets_a_known_ratio_and_excludes_one() -> None:
    rng = np.random.default_rng(1)
    rounds = _rounds(5, 60)
    base = 2.0 * np.exp(rng.normal(0, 0.1, len(rounds)))
    cand = 1.0 * np.exp(rng.normal(0, 0.1, len(rounds)))
    estimate = paired_speedup(base, rounds, cand, rounds, seed=7)
    assert estimate.ci_low < 2.0 < estimate.ci_high
    assert estimate.ci_low > 1.0 and estimate.faster is True
    assert estimate.ci_low <= estimate.speedup <= estimate.ci_high
    assert estimate.rounds == 60


def test_equal_distributions_claim_no_improvement() -> None:
    rng = np.random.default_rng(2)
    rounds = _rounds(5, 40)
    base = np.exp(rng.normal(0, 0.2, len(rounds)))
    cand = np.exp(rng.normal(0, 0.2, len(rounds)))
    estimate = paired_speedup(base, rounds, cand, rounds, seed=3)
    assert estimate.ci_low < 1.0 < estimate.ci_high
    assert estimate.faster is None
    slower = paired_speedup(base, rounds, cand * 1.5, rounds, seed=3)
    assert slower.ci_high < 1.0 and slower.faster is False


def test_bootstrap_is_seeded_and_needs_enough_rounds() -> None:
    rng = np.random.default_rng(4)
    rounds = _rounds(5, 20)
    base, cand = rng.lognormal(0, 0.1, 100), rng.lognormal(0, 0.1, 100)
    assert paired_speedup(base, rounds, cand, rounds, seed=9) == paired_speedup(base, rounds, cand, rounds, seed=9)
    few = paired_speedup(base[:10], rounds[:10], cand[:10], rounds[:10], seed=9)
    assert few.ci_low is None and few.faster is None and few.speedup > 0


def _measured(speedup: float | None, low: float, high: float, *flags: Flag) -> TimingReport:
    return TimingReport(device="cpu", shape_overrides={}, speedup_eager=speedup, ci_low=low, ci_high=high,
                        perf="PERF_INVALID" if flags else "PERF_VALID", flags=list(flags), wall_s=2.0,
                        settings=TimingSettings().model_dump())


def test_a_remeasured_speedup_keeps_the_lower_measurement_and_every_flag() -> None:
    high, low = _measured(4.5, 4.2, 4.8), _measured(3.6, 3.4, 3.9)
    for first, second in ((high, low), (low, high)):
        settled = settle_remeasure(first, second)
        assert settled.speedup_eager == 3.6 and (settled.ci_low, settled.ci_high) == (3.4, 3.9)
        assert settled.remeasured == [first.speedup_eager, second.speedup_eager]
        assert settled.perf == "PERF_VALID" and not settled.remeasure and settled.wall_s == 4.0
        assert "do not overlap" in settled.notes[-1] and "the lower stands" in settled.notes[-2]
    close = settle_remeasure(_measured(3.5, 3.2, 3.9), _measured(3.3, 3.0, 3.6))
    assert close.speedup_eager == 3.3 and "the lower stands" in close.notes[-1]

    timeout = flag("timing_timeout", "the worker ran past its limit")
    failed = settle_remeasure(high, _measured(None, 0, 0, timeout))
    assert failed.perf == "PERF_INVALID" and failed.speedup_eager is None
    assert failed.flags == [timeout] and str(timeout) == "timeout: the worker ran past its limit"
    assert failed.remeasured == [4.5, None]
    assert not any("overlap" in note for note in failed.notes)
    flagged = settle_remeasure(_measured(4.5, 4.2, 4.8, flag("stream_injection", "x")), low)
    assert flagged.perf == "PERF_INVALID" and [f.message for f in flagged.flags] == ["stream injection: x"]


def test_summary_statistics_and_stream_ratio() -> None:
    samples = [1.0, 2.0, 3.0, 4.0, 100.0]
    timing = summarize(samples, plain_ms=[0.5, 1.0, 1.5, 2.0, 50.0], rounds=[0, 0, 1, 1, 2])
    assert timing.median_ms == 3.0 and timing.n == 5 and timing.mean_ms == pytest.approx(22.0)
    assert timing.iqr_ms == pytest.approx(2.0)
    assert timing.samples_ms == samples and timing.rounds == [0, 0, 1, 1, 2]
    assert timing.stream_ratio == pytest.approx(0.5) and timing.plain_median_ms == 1.5
    assert summarize([1.0, 2.0]).plain_ms is None


def test_relative_standard_error_shrinks_with_samples_and_matches_the_worker() -> None:
    rng = np.random.default_rng(5)
    few, many = rng.lognormal(0, 0.05, 30), rng.lognormal(0, 0.05, 3000)
    assert relative_standard_error(many) < relative_standard_error(few)
    assert timing_turns.relative_standard_error is relative_standard_error  # one implementation, worker and orchestrator
    assert relative_standard_error([1.0, 2.0]) is None


def test_the_schedule_checks_every_early_call_and_states_its_bound() -> None:
    assert [check_probability(k, 60) for k in (0, 59)] == [1.0, 1.0]
    assert check_probability(119, 60) == pytest.approx(0.5) and check_probability(299, 60) == pytest.approx(0.2)
    assert catch_bound(60, 60) == 1.0 and catch_bound(0, 60) == 0.0
    # 300 calls: the 15 least likely to be checked are the last ones, each checked with probability ~0.2
    last = 1 - np.prod([1 - 60 / (k + 1) for k in range(285, 300)])
    assert catch_bound(300, 60) == pytest.approx(last) and 0.95 < last < 0.99
    assert catch_bound(300, 10) < catch_bound(300, 60)


def _ask(fds: tuple[int, int], call: int) -> bytes:
    os.write(fds[1], ASK.pack(ASK_MAGIC, call, 7))
    return os.read(fds[0], ANSWER.size)


def test_the_dealer_answers_in_call_order_from_its_seed_and_refuses_an_ask_out_of_turn(tmp_path: Path) -> None:
    answers = []
    for _ in range(2):
        dealer = Dealer(seed=5, always=2).start()
        sealed = seal(str(tmp_path), channel=dealer.worker_fds)
        answers.append([sealed.ask(call, 100 + call) for call in range(40)])
        dealer.stop()
        assert [c.call for c in dealer.calls] == list(range(40)) and dealer.violation is None
        assert [c.input_seed for c in dealer.calls] == [100 + k for k in range(40)]
        assert [(c.checked, c.sample_seed) for c in dealer.calls] == answers[-1]
    assert answers[0] == answers[1]  # the secret seed decides, nothing else
    assert answers[0][0][0] and answers[0][1][0] and not all(checked for checked, _ in answers[0])
    unused = Dealer(seed=6, always=2)
    assert unused._rng.random() != Dealer(seed=5, always=2)._rng.random()
    unused.stop()  # never started (the template could not be prepared): closes its pipes all the same
    unused.stop()

    # the candidate asking about its call before it is done: the worker's own ask comes second and is refused
    dealer = Dealer(seed=5, always=2).start()
    sealed = seal(str(tmp_path), channel=dealer.worker_fds)
    sealed.ask(0, 1)
    assert len(_ask(dealer.worker_fds, 1)) == ANSWER.size  # learned call 1's fate early
    with pytest.raises(RuntimeError, match="closed"):
        sealed.ask(1, 2)
    dealer.stop()
    assert "out of turn" in (dealer.violation or "") and len(dealer.calls) == 2


def test_a_replaced_channel_descriptor_is_refused(tmp_path: Path) -> None:
    dealer = Dealer(seed=5, always=2).start()
    sealed = seal(str(tmp_path), channel=dealer.worker_fds)
    spare_read, spare_write = os.pipe()
    saved = os.dup(dealer.worker_fds[0])
    try:
        os.dup2(spare_read, dealer.worker_fds[0])  # a pipe the candidate controls, feeding made-up answers
        with pytest.raises(RuntimeError, match="replaced"):
            sealed.ask(0, 1)
    finally:
        os.dup2(saved, dealer.worker_fds[0])
        for fd in (saved, spare_read, spare_write):
            os.close(fd)
        dealer.stop()


def test_sampled_outputs_are_the_elements_the_trusted_side_draws(tmp_path: Path) -> None:
    sealed = seal(str(tmp_path))
    big, small = torch.randn(300, 7), torch.arange(5.0)
    shapes, *values = sealed.sample([big, small, 3], 99, 64)
    assert read_shapes(shapes) == [(torch.float32, [300, 7]), (torch.float32, [5]), None]
    assert torch.equal(values[0], big.reshape(-1)[index_sampler()(2100, 64, 99, 0)]) and values[0].shape == (64,)
    assert torch.equal(values[1], small) and values[2] is None
    assert not torch.equal(sealed.sample([big], 98, 64)[1], values[0])


def test_a_checked_call_is_redrawn_exactly_by_the_trusted_side() -> None:
    template = [torch.zeros(4, 8), torch.tensor([3, 4])]
    domains = ["positive"]
    first = seeded_draws(template, 17, torch.Generator(), lambda i: domains[i] if i < 1 else "real")
    again = seeded_draws(template, 17, torch.Generator(), lambda i: domains[i] if i < 1 else "real")
    assert list(first) == [0] and torch.equal(first[0], again[0]) and bool((first[0] > 0).all())
    assert not torch.equal(first[0], seeded_draws(template, 18, torch.Generator(), lambda i: "real")[0].abs() + 1e-3)


# ---------------------------------------------------------------------------------------------- worker probes


def test_global_state_and_monkeypatch_probes() -> None:
    before = torch_state.state_snapshot()
    assert before["num_threads"] == torch.get_num_threads()
    assert "float32_matmul_precision" in before and "default_dtype" in before
    originals = torch_state.patch_snapshot()
    assert torch_state.patched_since(originals) == []
    saved = torch.softmax
    try:
        torch.softmax = lambda *args, **kwargs: saved(*args, **kwargs)  # type: ignore[assignment]
        assert torch_state.patched_since(originals) == ["torch.softmax"]
    finally:
        torch.softmax = saved
    assert torch_state.patched_since(originals) == []


# ---------------------------------------------------------------------------------------------- judging worker results


def _outcome(**fields: Any) -> WorkerOutcome:
    isolation = IsolationInfo(method="bwrap", network="isolated", filesystem="confined")
    return WorkerOutcome(**{"returncode": 0, "wall_s": 30.0, "isolation": isolation, **fields})


def _fake_worker(job: Path, *, candidate_ms: float, plain_ms: float | None, method: str,
                 events_factor: float = 1.0) -> dict[str, Any]:
    """What a worker would write, with samples we choose; it asks the dealer about every timed candidate call and
    hands back the checked ones' outputs, computed correctly. As the baseline worker (no call channel) it writes
    the same samples and asks nothing; the orchestrator takes the baselines from it, the candidate from the other."""
    request = json.loads((job / "request.json").read_text())
    template = torch.load(job / request["template"], weights_only=True)
    sealed = seal(str(job), channel=tuple(request["channel"])) if "channel" in request else None
    rng = np.random.default_rng(0)
    rounds = _rounds(5, 12)
    subjects, blocks = {}, []
    for name, median in (("eager", 0.5), ("candidate", candidate_ms)):
        samples = list(median * np.exp(rng.normal(0, 0.02, len(rounds))))
        plain = [s - 0.004 for s in samples] if name == "eager" or plain_ms is None else [plain_ms] * len(samples)
        subjects[name] = {"samples_ms": samples, "plain_ms": plain if method != "perf_counter" else None,
                          "rounds": rounds, "warmup": {"calls": 10, "median_ms": median}}
        for r in range(12):
            events = sum(samples[r * 5:(r + 1) * 5])
            blocks.append({"subject": name, "round": r, "events_ms": events * events_factor, "wall_ms": events * 1.2})
    for call in range(len(rounds) if sealed is not None else 0):
        seed = sealed.entropy()
        checked, sample_seed = sealed.ask(call, seed)
        if checked:
            x = seeded_draws(template, seed, torch.Generator(), lambda i: "real")[0].to(torch.float32)
            sealed.write(f"check_{call}.kw", [b"", *sealed.sample([torch.softmax(x, dim=-1)], sample_seed,
                                                                   request["check_elements"])])
    state = torch_state.state_snapshot()
    return {"ok": True, "method": method, "calls_per_sample": 1, "threads": 2, "subjects": subjects,
            "blocks": blocks, "bad_outputs": [], "patched": [], "notes": [],
            "state": {"before": state, "after_import": state, "after": state}, "own_calls": {"softmax_forward": 60},
            "stop_reason": "sample cap", "rounds": 12, "compile": {"requested": False}}


def _runner(write: Any, outcome: WorkerOutcome | None = None) -> Any:
    def run(argv: list[str], *, job_dir: Path, **kwargs: Any) -> WorkerOutcome:
        result = write(Path(job_dir))
        if result is not None:
            (Path(job_dir) / "result.json").write_text(json.dumps(result))
        return outcome or _outcome()

    return run


def test_a_lying_worker_is_caught_by_the_orchestrator() -> None:
    """Events far below the roofline floor, work escaping the timed stream, event times longer than the wall
    clock around them: each is flagged, and the timing is PERF_INVALID."""
    write = lambda job: _fake_worker(job, candidate_ms=1e-7, plain_ms=1e-8, method="cuda_events",  # noqa: E731
                                     events_factor=2.0)
    report = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 42, compile_baseline=False, settings=QUICK,
                        runner=_runner(write))
    assert report.perf == "PERF_INVALID"
    assert any(f.code == "below_roofline" for f in report.flags), report.flags
    assert any(f.code == "timer_inconsistency" for f in report.flags), report.flags
    assert report.rechecked == 60 and report.recheck_failures == []  # 60 calls, all among the always-checked
    assert report.recheck_catches_5pct == 1.0
    assert report.floor_ms and report.floor_ms > 1e-7

    injected = lambda job: _fake_worker(job, candidate_ms=2.71, plain_ms=0.046, method="cuda_events")  # noqa: E731
    report = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 43, compile_baseline=False, settings=QUICK,
                        runner=_runner(injected))
    assert report.perf == "PERF_INVALID"
    assert report.stream_ratio == pytest.approx(0.046 / 2.71, rel=0.05)
    assert [f for f in report.flags if f.code == "stream_injection"], report.flags
    assert report.speedup_eager == pytest.approx(0.5 / 2.71, rel=0.05)


def _synced(overhead_ms: float, candidate_ms: float, plain_ms: float, **extra: Any) -> Any:
    return lambda job: {**_fake_worker(job, candidate_ms=candidate_ms, plain_ms=plain_ms, method="cuda_events"),
                        "sync_overhead_ms": overhead_ms, **extra}


def test_the_sync_cost_is_taken_off_synced_samples_but_never_below_the_plain_time() -> None:
    report = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 46, compile_baseline=False, settings=QUICK,
                        runner=_runner(_synced(0.01, candidate_ms=0.3, plain_ms=0.28)))
    cand, eager = report.subjects["candidate"], report.subjects["eager"]
    assert report.sync_overhead_ms == 0.01 and cand.synced_ms and eager.synced_ms
    for subject in (cand, eager):
        assert subject.samples_ms == [max(p, s - 0.01) for s, p in zip(subject.synced_ms, subject.plain_ms)]
    assert cand.median_ms == pytest.approx(0.29, rel=0.02)
    assert eager.samples_ms == pytest.approx([s - 0.004 for s in eager.synced_ms])  # plain is the floor
    assert not [f for f in report.flags if f.code == "stream_injection"], report.flags

    graph = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 47, compile_baseline=False, settings=QUICK,
                       runner=_runner(_synced(0.01, candidate_ms=0.3, plain_ms=0.28, method="cuda_graph",
                                              calls_per_sample=10)))
    cand = graph.subjects["candidate"]
    assert cand.samples_ms == [max(p, s - 0.001) for s, p in zip(cand.synced_ms, cand.plain_ms)]

    overstated = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 48, compile_baseline=False, settings=QUICK,
                            runner=_runner(_synced(5.0, candidate_ms=2.71, plain_ms=0.046)))
    assert overstated.sync_overhead_ms == QUICK.sync_overhead_cap_ms and "us are taken off" in overstated.notes[-1]
    assert overstated.subjects["candidate"].median_ms == pytest.approx(2.71 - 0.05, rel=0.05)
    assert [f for f in overstated.flags if f.code == "stream_injection"], overstated.flags

    def plain_after_synced(job: Path) -> dict[str, Any]:
        result = _synced(0.01, candidate_ms=0.3, plain_ms=0.28)(job)
        result["subjects"]["candidate"]["plain_ms"][0] = 9.0
        return result

    broken = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 49, compile_baseline=False, settings=QUICK,
                        runner=_runner(plain_after_synced))
    assert broken.perf == "PERF_INVALID" and any("do not fit inside the synced" in f.message for f in broken.flags)


def test_malformed_missing_and_crashed_results_are_reports_not_exceptions() -> None:
    def nan_samples(job: Path) -> dict[str, Any]:
        result = _fake_worker(job, candidate_ms=0.3, plain_ms=None, method="perf_counter")
        result["subjects"]["candidate"]["samples_ms"][3] = -1.0
        return result

    report = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 44, compile_baseline=False, settings=QUICK,
                        runner=_runner(nan_samples))
    assert report.perf == "PERF_INVALID" and any(f.code == "timing_malformed" for f in report.flags)

    crashed = _outcome(returncode=-11, signal=11, signal_name="SIGSEGV", stderr_tail="Segmentation fault")
    report = run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 45, compile_baseline=False, settings=QUICK,
                        runner=_runner(lambda job: None, crashed))
    assert report.perf == "PERF_INVALID" and any(f.code == "timing_crash" for f in report.flags)
    assert "SIGSEGV" in (report.error or "")


def test_both_timing_workers_start_on_the_lane_given() -> None:
    crashed = _outcome(returncode=-11, signal=11, signal_name="SIGSEGV", stderr_tail="Segmentation fault")
    inner, lanes = _runner(lambda job: None, crashed), []

    def runner(argv: list[str], **kwargs: Any) -> WorkerOutcome:
        lanes.append(kwargs.get("lane", "not passed"))
        return inner(argv, **kwargs)

    run_timing(SOFTMAX, HONEST, [], SMALL, "cpu", 46, compile_baseline=False, settings=QUICK, runner=runner, lane="1")
    assert lanes == ["1", "1"]


# ---------------------------------------------------------------------------------------------- real runs on the CPU


@pytest.fixture(scope="module")
def builds(build_cache_root: Path) -> list[Any]:
    """The one C++ extension every candidate in candidates.py uses, built once for this module."""
    from kernelwright.sandbox.build import BuildCache, build_all
    from kernelwright.sandbox.candidate_loading import exec_candidate, recording_loader
    from kernelwright.sandbox.extensions import default_toolchain

    specs: list[Any] = []
    exec_candidate(HONEST, "candidate.py", recording_loader(specs))
    cache = BuildCache(build_cache_root)
    built = build_all(specs, default_toolchain("cpu"), cache)
    assert all(b.ok for b in built), [b.errors for b in built]
    return built


def test_honest_candidate_is_timed_validly_against_eager_and_compile(builds: list[Any]) -> None:
    report = run_timing(SOFTMAX, HONEST, builds, SMALL, "cpu", 1001, compile_baseline=True, settings=QUICK)
    assert report.perf == "PERF_VALID", (report.flags, report.error)
    assert report.method == "perf_counter" and report.threads and report.threads >= 1
    cand, eager = report.subjects["candidate"], report.subjects["eager"]
    for subject in (cand, eager):
        assert subject.n >= QUICK.min_samples and len(subject.samples_ms) == subject.n == len(subject.rounds)
        assert all(v > 0 for v in subject.samples_ms) and subject.iqr_ms >= 0 and subject.median_ms > 0
    assert np.isfinite(report.speedup_eager) and report.speedup_eager > 0
    assert report.ci_low is not None and report.ci_low <= report.ci_high
    assert report.faster in (True, False, None) and (report.faster is not True or report.ci_low > 1.0)
    assert report.rechecked >= 1 and report.recheck_failures == []
    assert report.own_calls.get("softmax_forward", 0) >= cand.n
    assert report.floor_ms is not None and report.floor_ms < cand.median_ms
    assert report.environment["cpu_model"] is not None or report.environment.get("cpu_count")
    assert report.hardware["device"] == "cpu" and report.rechecked >= min(cand.n, QUICK.checks_always)
    # the compile baseline either ran or says why not
    if report.compile_error is None:
        assert report.subjects["compile"].n >= QUICK.min_samples
        assert report.speedup_compile is not None and report.speedup_compile > 0
    else:
        assert report.speedup_compile is None and "compile" not in report.subjects


def test_lower_precision_on_timed_calls_fails_the_recheck(builds: list[Any]) -> None:
    bf16 = candidate("        return ext.softmax_bf16(x)")
    report = run_timing(SOFTMAX, bf16, builds, SMALL, "cpu", 1002, compile_baseline=False, settings=QUICK)
    assert report.perf == "PERF_INVALID"
    assert report.rechecked >= 1 and len(report.recheck_failures) == report.rechecked
    assert any(f.code == "recheck_failed" for f in report.flags)
    assert report.subjects["candidate"].n >= 1  # the samples are still reported as evidence


def test_no_call_ever_sees_the_same_input_content_twice(builds: list[Any]) -> None:
    """Output caching cannot pay: this candidate refuses any input it has seen before (warm-up included)."""
    picky = candidate(
        "        key = hash(x.detach().cpu().numpy().tobytes())\n"
        "        seen = self.__dict__.setdefault('seen', set())\n"
        "        if key in seen:\n"
        "            raise RuntimeError('the same input content twice')\n"
        "        seen.add(key)\n"
        "        return ext.softmax_forward(x)"
    )
    settings = QUICK.model_copy(update={"max_seconds": 1.0, "min_samples": 10})
    report = run_timing(SOFTMAX, picky, builds, SMALL, "cpu", 1005, compile_baseline=False, settings=settings)
    assert report.error is None and report.perf == "PERF_VALID", (report.flags, report.error)
    assert report.rechecked >= 1 and report.subjects["candidate"].n >= 10


def test_global_state_changes_and_monkeypatches_are_flagged(builds: list[Any]) -> None:
    tamper = HONEST + (
        "\n_softmax = torch.softmax\n"
        "torch.softmax = lambda *args, **kwargs: _softmax(*args, **kwargs)\n"
        "torch.set_float32_matmul_precision('medium')\n"
    )
    report = run_timing(SOFTMAX, tamper, builds, SMALL, "cpu", 1003, compile_baseline=False, settings=QUICK)
    assert report.perf == "PERF_INVALID"
    assert any("torch.softmax" in f.message for f in report.flags if f.code == "monkeypatch"), report.flags
    assert any("float32_matmul_precision" in f.message for f in report.flags if f.code == "global_state"), report.flags


def test_a_hanging_candidate_times_out_into_a_report(builds: list[Any]) -> None:
    def short_limits(argv: list[str], **kwargs: Any) -> WorkerOutcome:
        kwargs["limits"] = kwargs["limits"].model_copy(update={"timeout_s": 8.0})
        return run_isolated(argv, **kwargs)

    spin = candidate("        return ext.spin(x)")
    report = run_timing(SOFTMAX, spin, builds, SMALL, "cpu", 1004, compile_baseline=False, settings=QUICK,
                        runner=short_limits)
    assert report.perf == "PERF_INVALID" and report.error == "timeout"
    assert any(f.code == "timing_timeout" for f in report.flags)


# ---------------------------------------------------------------------------------------------- CUDA (GPU box only)

CUDA_SOFTMAX = r'''
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <cmath>

__device__ float block_reduce(float value, bool is_max) {
    __shared__ float partial[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    for (int offset = 16; offset > 0; offset >>= 1) {
        float other = __shfl_down_sync(0xffffffff, value, offset);
        value = is_max ? fmaxf(value, other) : value + other;
    }
    if (lane == 0) partial[warp] = value;
    __syncthreads();
    if (warp == 0) {
        value = lane < warps ? partial[lane] : (is_max ? -INFINITY : 0.0f);
        for (int offset = 16; offset > 0; offset >>= 1) {
            float other = __shfl_down_sync(0xffffffff, value, offset);
            value = is_max ? fmaxf(value, other) : value + other;
        }
        if (lane == 0) partial[0] = value;
    }
    __syncthreads();
    const float result = partial[0];
    __syncthreads();
    return result;
}

__global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ y, int cols) {
    const float* in = x + static_cast<size_t>(blockIdx.x) * cols;
    float* out = y + static_cast<size_t>(blockIdx.x) * cols;
    float peak = -INFINITY;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) peak = fmaxf(peak, in[c]);
    peak = block_reduce(peak, true);
    float total = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) total += expf(in[c] - peak);
    total = block_reduce(total, false);
    const float scale = 1.0f / total;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[c] = expf(in[c] - peak) * scale;
}

torch::Tensor softmax_forward(torch::Tensor x) {
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    softmax_rows<<<input.size(0), 256, 0, c10::cuda::getCurrentCUDAStream()>>>(
        input.data_ptr<float>(), out.data_ptr<float>(), static_cast<int>(input.size(1)));
    return out;
}

torch::Tensor softmax_side_stream(torch::Tensor x) {
    static cudaStream_t side = nullptr;
    if (side == nullptr) cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking);
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    cudaEvent_t ready;
    cudaEventCreateWithFlags(&ready, cudaEventDisableTiming);
    cudaEventRecord(ready, c10::cuda::getCurrentCUDAStream());
    cudaStreamWaitEvent(side, ready, 0);
    cudaEventDestroy(ready);
    for (int repeat = 0; repeat < 4; ++repeat)  // enough hidden work to stand out from the sync overhead
        softmax_rows<<<input.size(0), 256, 0, side>>>(input.data_ptr<float>(), out.data_ptr<float>(),
                                                      static_cast<int>(input.size(1)));
    return out;
}
'''

CUDA_TEMPLATE = '''
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CUDA_SOURCE = {cuda!r}

CPP_SOURCE = """
torch::Tensor softmax_forward(torch::Tensor x);
torch::Tensor softmax_side_stream(torch::Tensor x);
"""

ext = load_inline(name="softmax_cuda_ext", cpp_sources=CPP_SOURCE, cuda_sources=CUDA_SOURCE,
                  functions=["softmax_forward", "softmax_side_stream"])


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.{function}(x)
'''

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def cuda_builds(build_cache_root: Path) -> list[Any]:
    from kernelwright.sandbox.build import BuildCache, build_all
    from kernelwright.sandbox.candidate_loading import exec_candidate, recording_loader
    from kernelwright.sandbox.extensions import default_toolchain

    specs: list[Any] = []
    exec_candidate(CUDA_TEMPLATE.format(cuda=CUDA_SOFTMAX, function="softmax_forward"), "candidate.py",
                   recording_loader(specs))
    cache = BuildCache(build_cache_root)
    built = build_all(specs, default_toolchain("cuda"), cache)
    assert all(b.ok for b in built), [b.errors for b in built]
    return built


@pytest.mark.gpu
@gpu
def test_cuda_honest_candidate_is_timed_with_flushes_and_synced_events(cuda_builds: list[Any]) -> None:
    source = CUDA_TEMPLATE.format(cuda=CUDA_SOFTMAX, function="softmax_forward")
    sizes = SOFTMAX.declarations.variants["odd"]
    report = run_timing(SOFTMAX, source, cuda_builds, sizes, "cuda", 2001, compile_baseline=True)
    assert report.perf == "PERF_VALID", (report.flags, report.error, report.notes)
    assert report.method in ("cuda_events", "cuda_graph")
    assert report.l2 and report.l2["flush_bytes"] >= 2 * 40 * 2**20
    cand = report.subjects["candidate"]
    assert cand.plain_ms is not None and 0 < cand.stream_ratio <= 1.05
    assert report.sync_overhead_ms is not None and cand.synced_ms and cand.median_ms <= float(np.median(cand.synced_ms))
    assert report.rechecked >= 1 and not report.recheck_failures
    assert report.floor_ms and report.floor_ms < cand.median_ms
    assert report.hardware.get("matched") is not None and report.environment.get("gpu")


@pytest.mark.gpu
@gpu
def test_cuda_work_on_a_private_stream_is_flagged(cuda_builds: list[Any]) -> None:
    source = CUDA_TEMPLATE.format(cuda=CUDA_SOFTMAX, function="softmax_side_stream")
    report = run_timing(SOFTMAX, source, cuda_builds, {}, "cuda", 2002, compile_baseline=False)
    assert report.perf == "PERF_INVALID"
    assert any(f.code == "stream_injection" for f in report.flags), (report.flags, report.notes)
    assert report.stream_ratio is not None and report.stream_ratio < 0.5
