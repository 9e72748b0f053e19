"""The harness settings a run's numbers rest on, from its stored verification evidence and the shipped policy."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from ..store import Store, TaskRecord
from ..verify.distributions import DISTRIBUTIONS
from ..verify.plan import MAX_PLAN_BYTES
from ..verify.policy import TolerancePolicy, load_attribution_policy, load_tolerances
from .loaded import LoadedRun

DISTRIBUTION_TEXT = {
    "normal": "standard normal N(0, 1)",
    "uniform": "uniform on [-1, 1)",
    "large": "normal scaled by 100",
    "tiny_zeros": "normal scaled by 1e-3, a quarter of the elements set to exactly 0",
    "heavy_tail": "Student-t with 2 degrees of freedom, clamped to ±1e4",
}
PLAN_RULE = ("Every input distribution on every correctness shape with the first weight init, the second init on "
             "normal inputs, then determinism, same-address and one-element probes on the first shape. When one "
             f"run's files (inputs, float64 expected, eager and candidate outputs) would pass {MAX_PLAN_BYTES >> 30} GiB, "
             f"the large, tiny and heavy-tailed distributions of shapes over {MAX_PLAN_BYTES >> 24} MiB a trial are "
             "left out, heaviest first, and "
             "if that is not enough the probes run on the lightest shape; each left-out trial is listed. Float "
             "inputs are redrawn by the harness (never taken from the task's get_inputs()), mapped into the "
             "task's declared input domain and cast to its dtype; outputs are compared with a float64 reference "
             "computed from the same rounded inputs and weights.")
WEIGHTS_RULE = ("Weights come from the task's own Model(...) construction under torch.manual_seed(init), "
                "init = seed mod 100000 + 1 (and + 2 for the second init when the model has parameters); "
                "the candidate's ModelNew loads them when its parameters match by name and shape ('loaded'), "
                "otherwise keeps its own seeded weights ('seeded'). Timing uses an init derived from the seed apart.")
SHAPES_RULE = ("CUDA: the task's nominal sizes plus up to three declared or derived variants (odd sizes, another "
               "batch); CPU: the small variant, an odd-sized one and one with another batch. Timing runs at the "
               "first shape.")


class TaskHarness(BaseModel):
    """What the verifier used for one task, as its stored verifications record it."""

    task: str
    dtype: str | None = None
    input_domain: Any = None
    tolerance: dict[str, Any] | None = None  # the task's own override, when it declares one
    shapes: list[str] = Field(default_factory=list)  # correctness shape names seen
    shape_overrides: dict[str, dict[str, int]] = Field(default_factory=dict)  # where the evidence holds sizes
    timing_overrides: dict[str, int] | None = None
    inits: list[int] = Field(default_factory=list)
    weights: dict[str, int] = Field(default_factory=dict)  # "loaded" / "seeded" -> models
    seeds: list[int] = Field(default_factory=list)
    verifications: int = 0


class HarnessSettings(BaseModel):
    device: str | None = None
    tolerances: TolerancePolicy | None = None
    min_own_share: dict[int, float] = Field(default_factory=dict)  # level -> least own share (attribution.toml)
    distributions: dict[str, str] = Field(
        default_factory=lambda: {d: DISTRIBUTION_TEXT.get(d, d) for d in DISTRIBUTIONS})
    plan_rule: str = PLAN_RULE
    weights_rule: str = WEIGHTS_RULE
    shapes_rule: str = SHAPES_RULE
    timing_methods: dict[str, int] = Field(default_factory=dict)  # method -> timed verifications
    calls_per_sample: list[int] = Field(default_factory=list)
    threads: list[int] = Field(default_factory=list)
    timing_settings: dict[str, Any] = Field(default_factory=dict)  # warm-up, sample counts, targets (first seen)
    l2: dict[str, Any] | None = None
    sanitizer: dict[str, int] = Field(default_factory=dict)  # "memcheck clean" -> finalist verifications
    sanitizer_notes: list[str] = Field(default_factory=list)  # why compute-sanitizer did not run, where it did not
    isolation: list[dict[str, Any]] = Field(default_factory=list)  # distinct confinements seen
    tasks: list[TaskHarness] = Field(default_factory=list)

    @property
    def seeds(self) -> int:
        return sum(len(t.seeds) for t in self.tasks)


def collect_harness(store: Store, run_id: str, device: str | None = None,
                    loaded: LoadedRun | None = None) -> HarnessSettings:
    """Harness facts of every verification of the run's candidates, plus the tolerance policy.

    `loaded`: the run's rows already read for a report (else they are read here)."""
    loaded = loaded if loaded is not None else LoadedRun(store, run_id)
    try:
        tolerances = load_tolerances()
    except FileNotFoundError:
        tolerances = None
    try:
        min_own_share = load_attribution_policy().min_own_share
    except FileNotFoundError:
        min_own_share = {}
    settings = HarnessSettings(device=device, tolerances=tolerances, min_own_share=min_own_share)
    methods: Counter[str] = Counter()
    by_hash: dict[str, TaskHarness] = {}
    for candidate in loaded.candidates:
        task = by_hash.get(candidate.task_hash)
        if task is None:
            task = by_hash[candidate.task_hash] = _task_harness(loaded.task(candidate.task_hash), candidate.task_hash)
        for verification in loaded.verifications(candidate.id):
            evidence = verification.evidence or {}
            seed = verification.seed if verification.seed is not None else evidence.get("seed")
            task.verifications += 1
            if seed is not None and seed not in task.seeds:
                task.seeds.append(seed)
            _add_correctness(task, evidence.get("correctness") or {})
            _add_timing(settings, task, methods, evidence.get("timing") or {})
            _add_sanitizer(settings, evidence.get("sanitizer"))
            isolation = evidence.get("isolation")
            if isolation and isolation not in settings.isolation:
                settings.isolation.append(isolation)
    settings.timing_methods = dict(methods)
    settings.tasks = sorted(by_hash.values(), key=lambda t: t.task)
    return settings


def _task_harness(record: TaskRecord | None, task_hash: str) -> TaskHarness:
    if record is None:
        return TaskHarness(task=task_hash[:12])
    declared = record.declarations or {}
    return TaskHarness(task=record.ref, dtype=declared.get("dtype", "float32"),
                       input_domain=declared.get("input_domain", "real"), tolerance=declared.get("tolerance"))


def _add_correctness(task: TaskHarness, correctness: dict[str, Any]) -> None:
    for model_id, adopted in (correctness.get("weights") or {}).items():
        shape, _, init = model_id.rpartition("-")
        if shape and shape not in task.shapes:
            task.shapes.append(shape)
        if init.isdigit() and int(init) not in task.inits:
            task.inits.append(int(init))
        task.weights[adopted] = task.weights.get(adopted, 0) + 1
    for failure in correctness.get("failures") or []:
        shape = failure.get("shape")
        if shape and shape not in task.shapes:
            task.shapes.append(shape)
        if shape:
            task.shape_overrides.setdefault(shape, failure.get("overrides") or {})


def _add_sanitizer(settings: HarnessSettings, sanitizer: dict[str, Any] | None) -> None:
    if not sanitizer:
        return
    for check in sanitizer.get("checks") or []:
        key = f"{check.get('tool')} {check.get('status')}"
        settings.sanitizer[key] = settings.sanitizer.get(key, 0) + 1
    note = sanitizer.get("note")
    if note and note not in settings.sanitizer_notes:
        settings.sanitizer_notes.append(note)


def _add_timing(settings: HarnessSettings, task: TaskHarness, methods: Counter[str], timing: dict[str, Any]) -> None:
    if not timing:
        return
    if timing.get("method"):
        methods[timing["method"]] += 1
    for key, seen in (("calls_per_sample", settings.calls_per_sample), ("threads", settings.threads)):
        if timing.get(key) is not None and timing[key] not in seen:
            seen.append(timing[key])
    if timing.get("settings") and not settings.timing_settings:
        settings.timing_settings = dict(timing["settings"])
    if timing.get("l2") and settings.l2 is None:
        settings.l2 = dict(timing["l2"])
    if timing.get("shape_overrides") is not None and task.timing_overrides is None:
        task.timing_overrides = dict(timing["shape_overrides"])
