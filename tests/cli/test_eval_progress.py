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


def test_the_step_column_shows_the_running_phase_and_its_time():
    from kernelwright.cli.run_progress import RunProgress

    progress = EvalProgress(total=1, spend=Spend(), enabled=False)
    progress.on_step(Step(task="level1/1_gelu", round=2, kind="coder", detail="repair"))
    progress.on_phase("level1/1_gelu", 0, "correctness")
    [table] = [part for part in progress._view().renderables if hasattr(part, "rows")]
    assert [str(cell) for cell in table.columns[1]._cells] == ["round 2: correctness 0s"]
    progress.on_step(Step(task="level1/1_gelu", round=2, kind="verdict", verdict="PASS"))  # the phase is over
    [table] = [part for part in progress._view().renderables if hasattr(part, "rows")]
    assert [str(cell) for cell in table.columns[1]._cells] == ["round 2: verdict"]

    run = RunProgress(["level1/1_gelu"], Spend(), enabled=False)
    run.on_phase("level1/1_gelu", 0, "timing")
    assert [str(cell) for cell in run.table().columns[2]._cells] == ["timing 0s"]


def test_a_step_as_one_plain_line():
    from kernelwright.cli.progress_lines import step_line

    line = step_line(Step(task="level1/1_gelu", sample=1, round=0, kind="verdict", detail="correct on 23 trials\nmore",
                          verdict="PASS", speedup=1.5), samples=2)
    assert line.endswith("level1/1_gelu #1 round 0: verdict correct on 23 trials [PASS] 1.50x eager")
