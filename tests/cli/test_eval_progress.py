"""The live eval view: one row per running (task, sample)."""

from kernelwright.agents.budget import Spend
from kernelwright.agents.loop import Step
from kernelwright.cli.eval_progress import EvalProgress


def test_samples_of_one_task_have_their_own_rows():
    progress = EvalProgress(total=3, spend=Spend(), enabled=False, samples=3)
    for sample in range(3):
        progress.on_step(Step(task="level1/1_gelu", sample=sample, round=0, kind="coder", detail=f"seed {sample}"))
    progress.on_step(Step(task="level1/1_gelu", sample=1, round=0, kind="final", verdict="PASS", speedup=1.5))
    assert progress.running == {("level1/1_gelu", 0): "round 0: coder seed 0",
                                ("level1/1_gelu", 2): "round 0: coder seed 2"}
    progress.sample_done("level1/1_gelu", 1, True)
    progress.sample_done("level1/1_gelu", 0, False)
    assert list(progress.running) == [("level1/1_gelu", 2)]  # the other sample still runs
    assert progress.best == {"level1/1_gelu": 1.5} and progress.failed == 1
    [table] = [part for part in progress._view().renderables if hasattr(part, "rows")]
    assert [str(cell) for cell in table.columns[0]._cells] == ["level1/1_gelu #2"]
