"""The correctness phase: trusted reference worker, isolated candidate worker, comparisons here."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..sandbox.build import BuildOutcome
from ..sandbox.isolation import (CANDIDATE_JOB_PREFIX, WorkerOutcome, candidate_threads, load_limits, read_worker_file,
                                  run_isolated, thread_env)
from ..sandbox.protocol import CorrectnessRequest, WorkerResult, read_result, write_request
from ..tasks import Task
from ..sandbox.sealed import parse_facts, read_call_record
from .compare import Mismatch, compare_outputs, comparison_device
from .models import CorrectnessReport, TrialFailure
from .plan import REPEATS, Plan, Shape, Trial, make_plan
from .policy import load_tolerances
from .trusted import run_trusted

TRUSTED_ROOT = Path("/tmp")  # hidden from isolated workers by a private /tmp


@dataclass
class CorrectnessRun:
    plan: Plan
    report: CorrectnessReport
    outcome: WorkerOutcome | None = None
    worker: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)


def new_seed() -> int:
    """A secret per-run seed from the OS; stored only after the run, for replay."""
    return secrets.randbits(48)


def run_correctness(task: Task, candidate_source: str, builds: list[BuildOutcome], shapes: list[Shape],
                    device: str, seed: int, own_kernels: list[str] | None = None,
                    lane: str | None = None) -> CorrectnessRun:
    """`own_kernels`: the `__global__` names in the candidate's CUDA sources, for profiler attribution. `lane`: the
    GPU the reference, the candidate's worker and the comparison use (None: the default device)."""
    own_kernels = own_kernels or []
    dtype = task.declarations.dtype
    has_weights = (task.specs.param_count if task.specs else 1) > 0
    plan = make_plan(seed, device, dtype, shapes, has_weights)
    job = Path(tempfile.mkdtemp(prefix=CANDIDATE_JOB_PREFIX))
    trusted = Path(tempfile.mkdtemp(prefix="kw-trusted-", dir=TRUSTED_ROOT))
    (job / "inputs").mkdir()
    try:
        check_disk_space(plan.planned_bytes(), job, trusted)
        reference = _run_reference(task, plan, job / "inputs", trusted, lane)
        run = CorrectnessRun(plan=plan, report=CorrectnessReport(), reference=reference)
        run.report.probe_shape = next(t.shape for t in plan.trials if t.keep)
        for trial in plan.thinned:
            run.report.dropped.append({"trial": trial.id, "distribution": trial.distribution, "shape": trial.shape,
                                       "kind": "file_budget", "reason": f"left out to keep the run's files within {_gib(plan.max_bytes or 0)} "
                                                 f"(one trial at this shape writes {_gib(plan.trial_bytes(trial))})"})
        usable = [t for t in plan.trials if t.purpose != "trial" or _defined(reference["trials"][t.id])]
        for trial in plan.trials:
            if trial not in usable:
                run.report.dropped.append(_nonfinite_drop(trial))
        (job / "candidate.py").write_text(candidate_source)
        limits, threads = load_limits("correctness"), candidate_threads()
        request = CorrectnessRequest(
            device=device, dtype=dtype, threads=threads, allow_tf32=bool(task.declarations.allow_tf32),
            extensions=[b.loader_entry() for b in builds],
            models=[{"id": m, "init_inputs": f"inputs/init_{m}.pt", "seed": int(info["seed"]),
                     "state_dict": f"inputs/state_{m}.pt"} for m, info in reference["models"].items()],
            calls=[{"id": t.id, "model": reference["trials"][t.id]["model"], "inputs": f"inputs/in_{_input_of(t)}.pt",
                    "reuse": t.reuse, "keep": t.keep, "spacer": 4096 * (i % 7 + 1),
                    "profiled": t.purpose == "profiled"} for i, t in enumerate(usable)],
            output_bytes=sorted({o["bytes"] for t in usable for o in reference["trials"][t.id]["outputs"]}),
            own_kernels=own_kernels)
        write_request(job, request)
        run.outcome = run_isolated(
            [sys.executable, "-m", "kernelwright.workers.correctness", str(job)],
            job_dir=job, limits=limits, gpu=device.startswith("cuda"), lane=lane,
            readable_extra=library_dirs(builds), env_extra=thread_env(threads, cuda=device.startswith("cuda")),
        )
        run.worker = read_result(job, WorkerResult)
        if run.worker.get("ok"):
            _judge_trials(task, run, usable, job, trusted, lane)
        return run
    finally:
        shutil.rmtree(job, ignore_errors=True)
        shutil.rmtree(trusted, ignore_errors=True)


def _defined(facts: dict[str, Any]) -> bool:
    """A trial is compared where its reference is finite, or (inputs with inf / NaN) where the reference defines
    its non-finite outputs; records written before `defined` existed hold `finite` only."""
    return bool(facts.get("defined", facts["finite"]))


def _nonfinite_drop(trial: Trial) -> dict[str, str]:
    reason = ("the task's eager output and the float64 reference disagree on which outputs are NaN/Inf for these "
              "inputs, so they do not define them" if trial.distribution == "specials"
              else "the reference itself produces NaN/Inf on these inputs")
    return {"trial": trial.id, "distribution": trial.distribution, "shape": trial.shape,
            "kind": "nonfinite_reference", "reason": reason}


class DiskSpaceError(Exception):
    """Too little free space for the files a verification writes: the machine's problem, not the candidate's."""


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_disk_space(needed: int, *folders: Path) -> None:
    """Fails early, in words, where the run's files cannot fit (each folder on its own file system, or all on one)."""
    by_device: dict[int, Path] = {}
    for folder in folders:
        by_device.setdefault(folder.stat().st_dev, folder)
    for folder in by_device.values():
        free = shutil.disk_usage(folder).free
        if needed > free * 0.9:
            raise DiskSpaceError(f"correctness needs about {_gib(needed)} of files under {folder.parent} and only "
                                 f"{_gib(free)} is free there: free disk space there")


def library_dirs(builds: list[BuildOutcome]) -> list[Path]:
    """The cache entries a worker must read; with a private /tmp it sees nothing else of the host's."""
    return sorted({Path(b.library).parent for b in builds if b.library})


def _input_of(trial: Any) -> str:
    return trial.source_trial if trial.purpose in REPEATS else trial.id


def _run_reference(task: Task, plan: Plan, inputs_dir: Path, trusted: Path, lane: str | None) -> dict[str, Any]:
    request = {"task": task.model_dump(), "plan": plan.model_dump(), "inputs_dir": str(inputs_dir),
               "trusted_dir": str(trusted)}
    path = trusted / "request.json"
    path.write_text(json.dumps(request))
    run_trusted("kernelwright.verify.reference_worker", str(path), what="the task's reference", lane=lane)
    return json.loads((trusted / "reference.json").read_text())


def _judge_trials(task: Task, run: CorrectnessRun, usable: list[Any], job: Path, trusted: Path,
                  lane: str | None) -> None:
    policy, report, device = load_tolerances(), run.report, comparison_device(run.plan.device, lane)
    calls = {c["id"]: c for c in run.worker.get("calls", [])}
    report.weights = {m["id"]: m["weights"] for m in run.worker.get("models", [])}
    shapes = {s.name: s.overrides for s in run.plan.shapes}
    outputs: dict[str, list[torch.Tensor | None]] = {}
    for trial in usable:
        call = calls.get(trial.id)
        if call is None:
            continue
        if trial.purpose == "weights" and report.weights.get(trial.model_id) != "loaded":
            report.probes["weights"] = ("not applicable: ModelNew's parameters differ from Model's by name or shape, "
                                        "so it keeps its own seeded weights")
            continue
        report.trials_run += 1
        sealed = load_sealed_call(job, f"out_{trial.id}.kw")
        if sealed is None:
            report.probes.setdefault("harness", f"call {trial.id} left no readable sealed record")
            continue
        got, facts, tampering = sealed
        if tampering:
            report.probes.setdefault("harness", f"in call {trial.id}: {tampering}")
        outputs[trial.id] = got
        expected_id = trial.source_trial if trial.purpose in REPEATS else trial.id
        expected = torch.load(trusted / f"expected_{expected_id}.pt", weights_only=True)
        eager = torch.load(trusted / f"eager_{expected_id}.pt", weights_only=True)
        undefined_file = trusted / f"undefined_{expected_id}.pt"
        undefined = torch.load(undefined_file, weights_only=True) if undefined_file.exists() else None
        problems = compare_outputs(got, expected, eager, run.plan.dtype, policy, task.declarations.tolerance, device,
                                   undefined)
        problems += _contract_problems(task, facts, len(got))
        for name, count in call.get("own_calls", {}).items():
            report.own_calls[name] = report.own_calls.get(name, 0) + count
        if not call.get("own_calls"):
            report.probes.setdefault("own_kernels", f"no extension function ran in call {trial.id}")
        if problems:
            report.failures.append(TrialFailure(
                trial=trial.id, purpose=trial.purpose, shape=trial.shape, overrides=shapes[trial.shape],
                distribution=trial.distribution, init=trial.init, mismatches=problems,
            ))
        else:
            report.trials_passed += 1
    report.attribution = run.worker.get("attribution") or {}
    share = report.attribution.get("own_share")
    report.own_kernel_share = float(share) if isinstance(share, (int, float)) else None
    if not run.plan.device.startswith("cuda") and share is None and any(t.purpose == "profiled" for t in usable):
        # the CPU profiler does not fail on its own: a candidate that stops it must not escape attribution
        report.probes.setdefault("profiler", "no attribution from the profiled calls: "
                                 + str(report.attribution.get("error", "the worker reported none")))
    if run.plan.device.startswith("cuda") and share is not None and not report.attribution.get("own_kernels_seen"):
        seen = ", ".join(list(report.attribution.get("kernels") or {})[:4]) or "no kernel"
        report.probes.setdefault("own_kernels", f"the profiler saw none of the candidate's own kernels run (it saw: {seen})")
    for trial in usable:
        if trial.purpose == "determinism" and trial.id in outputs and trial.source_trial in outputs:
            same = all(a is not None and b is not None and torch.equal(a, b)
                       for a, b in zip(outputs[trial.id], outputs[trial.source_trial]))
            report.probes["determinism"] = "ok" if same else "outputs differ bitwise between two runs on the same inputs"
    _profiler_probe(report, usable, outputs, calls)


def _profiler_probe(report: CorrectnessReport, usable: list[Any], outputs: dict[str, list[torch.Tensor | None]],
                    calls: dict[str, dict[str, Any]]) -> None:
    """A call under the profiler must do what the unprofiled call on the same inputs did: the same outputs, bit for
    bit, and the same own functions the same number of times. Otherwise attribution measured another candidate."""
    for trial in usable:
        if trial.purpose != "profiled" or trial.id not in outputs or trial.source_trial not in outputs:
            continue
        same = all(a is not None and b is not None and torch.equal(a, b)
                   for a, b in zip(outputs[trial.id], outputs[trial.source_trial]))
        if not same or len(outputs[trial.id]) != len(outputs[trial.source_trial]):
            report.probes["profiler"] = (f"outputs under the profiler (call {trial.id}) differ bitwise from an "
                                         f"unprofiled call on the same inputs ({trial.source_trial})")
            return
        profiled_calls = calls.get(trial.id, {}).get("own_calls", {})
        plain_calls = calls.get(trial.source_trial or "", {}).get("own_calls", {})
        if profiled_calls != plain_calls:
            report.probes["profiler"] = (f"own functions called under the profiler {profiled_calls} differ from an "
                                         f"unprofiled call on the same inputs {plain_calls}")
            return


def _contract_problems(task: Task, facts: dict[str, list[int]], outputs: int) -> list[Mismatch]:
    problems = []
    if facts["inputs_changed"] and not task.declarations.allow_inplace:
        problems.append(Mismatch(output=0, reason="input_mutation", detail=f"modified input(s) {facts['inputs_changed']} in place"))
    if facts["guards_written"]:
        problems.append(Mismatch(output=0, reason="out_of_bounds", detail=(
            f"wrote past the start or end of input(s) {facts['guards_written']}: the harness's guard bytes around "
            "them changed (index the inputs within their numel)")))
    for index in facts["aliases"]:
        if 0 <= index < outputs:
            problems.append(Mismatch(output=index, reason="aliasing", detail="output shares memory with an input"))
    for index in facts["reused"]:
        problems.append(Mismatch(output=index, reason="output_reused", detail=(
            "output uses the same memory as an output of the previous call, which the caller still holds: the next "
            "call overwrites what it returned (allocate each output, e.g. torch::empty)")))
    for index in facts["clobbered"]:
        problems.append(Mismatch(output=index, reason="output_reused", detail=(
            f"output {index} of the previous call changed during this call: returned results must stay as returned")))
    return problems


def load_sealed_call(job: Path, name: str) -> tuple[list[torch.Tensor | None], dict[str, list[int]], str] | None:
    """A call's sealed record (see kernelwright.sandbox.sealed): its outputs, the facts about its inputs and any
    tampering the worker saw; None when absent or malformed (a worker may write anything)."""
    try:
        (facts, tampering), outputs = read_call_record(read_worker_file(job, name, max_bytes=4 << 30), blobs=2)
        return outputs, parse_facts(facts), tampering.decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None
