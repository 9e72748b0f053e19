from pathlib import Path

import pytest

from kernelwright.tasks import load_task, load_tasks
from kernelwright.verify.admission import admit

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = load_tasks([ROOT / "tasks"]).tasks


@pytest.mark.parametrize("task", BUILTIN, ids=lambda t: t.ref)
def test_every_builtin_task_is_admitted_on_cpu(task) -> None:
    report = admit(task, device="cpu")
    assert report.problems == []
    assert report.admitted and len(report.shapes) == 3
    assert report.canaries["zeros"] == report.canaries["uninitialised"] == "fails as it should"


def test_output_below_absolute_tolerance_everywhere_is_not_admitted(fixture_tasks: Path) -> None:
    report = admit(load_task(fixture_tasks / "degenerate" / "1_tiny_softmax.py"))
    assert not report.admitted
    assert any("within +-0.01" in problem for problem in report.problems)
    assert report.canaries["zeros"] == "fails as it should"  # the scale-aware bound still catches zeros


def test_output_that_ignores_its_weights_is_not_admitted(fixture_tasks: Path) -> None:
    report = admit(load_task(fixture_tasks / "degenerate" / "2_ignores_weights.py"))
    assert any("does not depend on the weights" in problem for problem in report.problems)
