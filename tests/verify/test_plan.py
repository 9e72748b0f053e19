"""The correctness plan's file budget, the reference worker's files, and how a failed reference is reported.

At nominal GPU sizes one trial writes gigabytes (inputs, float64 expected, eager and candidate outputs): on the GPU
box an unbudgeted plan filled the disk and every CUDA verification of level1/6_softmax failed in torch.save."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from kernelwright.tasks import cpu_scale_variants, load_task, specs_at
from kernelwright.verify.correctness import DiskSpaceError, check_disk_space
from kernelwright.verify.pipeline import correctness_shapes
from kernelwright.verify.distributions import DISTRIBUTIONS
from kernelwright.verify.plan import MAX_PLAN_BYTES, PROFILED_CALLS, REPEATS, Shape, make_plan, sized_shape
from kernelwright.verify.reference_worker import run as run_reference
from kernelwright.verify.trusted import ReferenceFailure, root_cause, run_trusted

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")
GIB = 2**30


def _shapes(*sizes: int) -> list[Shape]:
    return [Shape(name=f"s{i}", overrides={"n": i}, fresh_bytes=size, reused_bytes=size // 5)
            for i, size in enumerate(sizes)]


def _probes(plan) -> dict[str, str]:
    return {t.purpose: t.shape for t in plan.trials if t.purpose != "trial"}


def test_sizes_come_from_the_output_specs() -> None:
    nominal = sized_shape("nominal", {}, specs_at(SOFTMAX, {}), "float32")
    one = 16384 * 16384 * 4  # one float32 tensor of the nominal shape
    assert nominal.reused_bytes == one  # the candidate's output
    assert nominal.fresh_bytes == one + 2 * one + 2 * one  # inputs, eager + candidate outputs, float64 expected
    assert sized_shape("x", {}, None, "float32").fresh_bytes is None


def test_a_plan_within_budget_or_of_unknown_size_runs_everything() -> None:
    full = len(DISTRIBUTIONS) * 2 + 3 + PROFILED_CALLS  # every distribution on two shapes, three probes, profiled
    assert len(make_plan(7, "cuda", "float32", _shapes(100 * 2**20, 100 * 2**20), False).trials) == full
    unknown = [Shape(name="a", overrides={}), Shape(name="b", overrides={"n": 3})]
    plan = make_plan(7, "cuda", "float32", unknown, False, max_bytes=1)
    assert len(plan.trials) == full and plan.thinned == []


def test_heavy_shapes_lose_their_optional_distributions_first_and_light_shapes_keep_all() -> None:
    plan = make_plan(7, "cuda", "float32", _shapes(4 * GIB, 30 * 2**20), False, max_bytes=20 * GIB)
    thinned = [t.distribution for t in plan.thinned]
    assert {t.shape for t in plan.thinned} == {"s0"}
    assert thinned == list(reversed(DISTRIBUTIONS[3:]))  # the last distributions go first
    assert {"normal", "uniform", "offset"} <= {t.distribution for t in plan.trials if t.shape == "s0"}
    assert plan.planned_bytes() <= 20 * GIB
    assert {t.distribution for t in plan.trials if t.shape == "s1"} == set(DISTRIBUTIONS)
    assert _probes(plan) == {"determinism": "s0", "same_address": "s0", "one_element": "s0", "profiled": "s1"}
    kept = {t.id for t in plan.trials}
    assert all({t.source_trial, t.reuse} - {None} <= kept for t in plan.trials)


def test_probes_move_to_the_lightest_shape_when_the_heavy_one_cannot_fit() -> None:
    plan = make_plan(7, "cuda", "float32", _shapes(5 * GIB, 80 * 2**20, 20 * 2**20), True, max_bytes=8 * GIB)
    # the profiled calls go to the heaviest shape whose outputs fit an eighth of the budget
    assert _probes(plan) == {"determinism": "s2", "same_address": "s2", "one_element": "s2", "weights": "s2",
                             "profiled": "s1"}
    heavy = [t for t in plan.trials if t.shape == "s0"]
    assert sorted((t.distribution, t.init) for t in heavy) == [("normal", plan.inits[0]), ("normal", plan.inits[1])]
    anchor = next(t for t in plan.trials if t.keep)
    assert anchor.shape == "s2" and anchor.distribution == "normal"
    assert next(t for t in plan.trials if t.purpose == "same_address").reuse == anchor.id


def test_every_builtin_task_at_gpu_sizes_is_planned_within_reach() -> None:
    """The worst built-in task keeps its files far below an unbudgeted plan (which reached 62 GiB)."""
    worst = 0
    for path in sorted((ROOT / "tasks").glob("level*/*.py")):
        task = load_task(path)
        plan = make_plan(1, "cuda", task.declarations.dtype, correctness_shapes(task, "cuda"),
                         (task.specs.param_count if task.specs else 1) > 0)
        worst = max(worst, plan.planned_bytes())
        assert {t.shape for t in plan.trials} == {s.name for s in plan.shapes}, task.ref  # every shape still runs
    assert MAX_PLAN_BYTES < worst <= 30 * GIB


def test_the_reference_writes_no_files_for_trials_that_repeat_another(tmp_path: Path) -> None:
    small = cpu_scale_variants(SOFTMAX)[0]
    plan = make_plan(11, "cpu", "float32", [Shape(name="small", overrides=small.overrides)], False)
    inputs, trusted = tmp_path / "inputs", tmp_path / "trusted"
    inputs.mkdir(), trusted.mkdir()
    report = run_reference({"task": SOFTMAX.model_dump(), "plan": plan.model_dump(), "inputs_dir": str(inputs),
                            "trusted_dir": str(trusted)})
    repeats = {t.id: t.source_trial for t in plan.trials if t.purpose in REPEATS}
    assert len(repeats) == 2 + PROFILED_CALLS and set(report["trials"]) == {t.id for t in plan.trials}
    for trial, source in repeats.items():
        assert not (trusted / f"expected_{trial}.pt").exists() and not (inputs / f"in_{trial}.pt").exists()
        assert report["trials"][trial]["outputs"] == report["trials"][source]["outputs"]
        assert (trusted / f"expected_{source}.pt").exists()
    one = next(t for t in plan.trials if t.purpose == "one_element")
    changed = torch.load(inputs / f"in_{one.id}.pt")[0] != torch.load(inputs / f"in_{one.source_trial}.pt")[0]
    assert int(changed.sum()) == 1


def test_profiled_calls_repeat_one_trial_together_after_it_where_the_seed_says() -> None:
    places = set()
    for seed in range(20):
        plan = make_plan(seed, "cpu", "float32", _shapes(10 * 2**20, 30 * 2**20), False)
        order = [t.id for t in plan.trials]
        profiled = [i for i, t in enumerate(plan.trials) if t.purpose == "profiled"]
        source = {plan.trials[i].source_trial for i in profiled}
        assert len(profiled) == PROFILED_CALLS and profiled == list(range(profiled[0], profiled[0] + PROFILED_CALLS))
        assert len(source) == 1 and order.index(source.pop()) < profiled[0]
        assert {plan.trials[i].shape for i in profiled} == {"s1"}  # the heaviest
        places.add(profiled[0])
    assert len(places) > 3  # not a fixed position a candidate could count to


def test_too_little_disk_is_one_clear_error(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    check_disk_space(1 << 20, tmp_path)
    with pytest.raises(DiskSpaceError, match=r"needs about .* GiB .* free there"):
        check_disk_space(2 * free, tmp_path, tmp_path)


def test_a_failed_reference_names_the_first_error_of_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kw_chained_failure.py").write_text(textwrap.dedent("""
        try:
            raise OSError("file write failed")
        finally:
            raise RuntimeError("unexpected pos 704 vs 598")
    """))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(ReferenceFailure) as caught:
        run_trusted("kw_chained_failure", what="the task's reference")
    assert str(caught.value) == "the task's reference failed: OSError: file write failed"
    assert root_cause("") == "no output"
    assert root_cause("Traceback (most recent call last):\n  File x\nValueError: bad\n") == "ValueError: bad"


def test_verify_lists_what_the_budget_left_out() -> None:
    from kernelwright.cli.render import dropped_lines
    from kernelwright.verify.models import CorrectnessReport

    report = CorrectnessReport(probe_shape="odd", dropped=[
        {"trial": "t2", "distribution": "large", "shape": "nominal", "kind": "file_budget", "reason": "left out"},
        {"trial": "t9", "distribution": "heavy_tail", "shape": "odd", "reason": "stored before kinds existed"}])
    assert dropped_lines(report) == [
        "dropped 1 trial(s) where the reference itself is not finite",
        "left out 1 trial(s) to keep the run's files within budget (nominal/large); determinism and caching probes "
        "at shape 'odd'"]
