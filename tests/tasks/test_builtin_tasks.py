"""The shipped task set: complete, well formed, and runnable on a CPU at its small variant."""

from collections import Counter
from pathlib import Path

import pytest
import torch

from kernelwright.tasks import Task, instantiate, load_tasks, task_variants

ROOT = Path(__file__).resolve().parents[2]

BUILTIN = load_tasks([ROOT / "tasks"])


def test_builtin_set_loads_without_errors_and_fills_every_level() -> None:
    assert BUILTIN.errors == []
    per_level = Counter(task.level for task in BUILTIN.tasks)
    assert per_level[1] >= 12 and per_level[2] >= 12 and per_level[3] >= 6
    assert len(BUILTIN.tasks) >= 30


def test_every_level_has_a_task_with_odd_nominal_sizes() -> None:
    odd_levels = {
        task.level for task in BUILTIN.tasks
        if any(size % 2 == 1 and size > 8 for spec in task.specs.inputs if spec.shape for size in spec.shape)
    }
    assert odd_levels >= {1, 2, 3}


@pytest.mark.parametrize("task", BUILTIN.tasks, ids=lambda t: t.ref)
def test_task_is_documented_and_declares_its_variants(task: Task) -> None:
    assert task.docstring and task.source.lstrip().startswith('"""')
    assert "small" in task.declarations.variants
    report = task_variants(task)
    assert [v.note for v in report.variants if v.specs is None] == []


@pytest.mark.parametrize("task", BUILTIN.tasks, ids=lambda t: t.ref)
def test_small_variant_output_depends_on_inputs_and_is_not_degenerate(task: Task) -> None:
    torch.set_num_threads(2)
    small = task.declarations.variants["small"]
    first = instantiate(task, small, seed=1, dtype="float32")
    second = instantiate(task, small, seed=2, dtype="float32")
    with torch.no_grad():
        out = first.model(*first.inputs)
        out = out[0] if isinstance(out, (tuple, list)) else out
        other = first.model(*second.inputs)
        other = other[0] if isinstance(other, (tuple, list)) else other
    assert torch.isfinite(out).all()
    assert out.float().std() > 1e-3, "output is (nearly) constant"
    assert not torch.equal(out, other), "output does not depend on the inputs"
