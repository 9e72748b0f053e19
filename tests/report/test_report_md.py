"""The Markdown report: GitHub-flavoured tables with the right numbers, a harness list, and a comparison."""

from __future__ import annotations

import pytest
import report_samples as samples

from kernelwright.report.context import ReportContext
from kernelwright.report.markdown import render_markdown
from kernelwright.report.records import SampleRecord


@pytest.fixture(scope="module")
def text() -> str:
    return render_markdown(samples.context())


@pytest.fixture(scope="module")
def compared() -> str:
    return render_markdown(samples.context(compare=True))


def _tables(text: str) -> list[list[list[str]]]:
    """Every table as rows of cells (header first, separator dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").replace("\\|", "\0").split("|")]
            if not all(set(c) <= set("-:") for c in cells):
                current.append([c.replace("\0", "|") for c in cells])
        elif current:
            tables.append(current)
            current = []
    return tables


def _table(text: str, header: str) -> list[list[str]]:
    return next(t for t in _tables(text) if t[0][:len(header.split("|"))] == [c.strip() for c in header.split("|")])


def test_every_row_has_as_many_cells_as_its_header(text: str, compared: str) -> None:
    for table in _tables(text) + _tables(compared):
        assert {len(row) for row in table} == {len(table[0])}
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")


def test_metric_table_overall_and_per_level(text: str) -> None:
    table = _table(text, "metric | overall | level 1 | level 2")
    rows = {row[0]: row[1:] for row in table[1:]}
    assert rows["tasks"] == ["3", "2", "1"]
    assert rows["correct rate"] == ["66.7%", "50.0%", "100.0%"]
    assert rows["fast_1.0 (vs eager)"] == ["33.3%", "50.0%", "0.0%"]
    assert rows["geomean speedup, all tasks, failure = 1.0 (vs eager)"] == ["1.06×", "–", "–"]
    assert rows["geomean speedup, correct tasks (vs torch.compile)"] == ["0.81×", "–", "–"]
    assert rows["pass@1"] == ["66.7%", "–", "–"]
    assert rows["dollars per task"][0] == "$0.1245" and rows["dollars per solved task"][0] == "$0.1867"
    assert rows["input tokens"][0] == "12,000" and rows["wall time per task"][0] == "31.7 s"


def test_rules_are_listed(text: str) -> None:
    for key, rule in samples.RULES.items():
        assert f"- **{key}**: {rule}" in text


def test_failure_taxonomy(text: str) -> None:
    assert _table(text, "family | reason | count")[1:] == [["INCORRECT", "mismatch", "1"]]


def test_task_table_in_task_order(text: str) -> None:
    table = _table(text, "task | level | best verdict")
    assert table[1] == [samples.GEMM, "1", "PASS", "1.50× [1.40, 1.60]", "1.10× [1.00, 1.20]", "2", "$0.1234"]
    assert table[2] == [samples.RELU, "1", "INCORRECT", "–", "–", "1", "$0.0500"]
    assert table[3] == [samples.CONV, "2", "PASS", "0.80× [0.75, 0.85]", "0.60×", "1", "$0.2000"]


def test_harness_settings_list(text: str) -> None:
    harness = text[text.index("## Harness settings"):]
    for fact in ("bwrap (network isolated, filesystem confined)", "cuda_events (3 timed)",
                 "float16 0.005/0.005/0.0015", "eager factor 4.0", "heavy_tail (Student-t", "Seeds stored: 1",
                 "torch.manual_seed(init)", "compute-sanitizer on finalists: memcheck clean (2), racecheck clean (2); "
                 "not run: compute-sanitizer is not on PATH"):
        assert fact in harness, fact


def test_samples_and_pipes() -> None:
    context = samples.context()
    extra = SampleRecord(task="level3/odd|name", task_hash="h-odd", level=3, sample=1, best_verdict="TIMEOUT")
    context = ReportContext(main=context.main.model_copy(update={"records": context.main.records + [extra]}),
                            generated_at=context.generated_at)
    table = _table(render_markdown(context), "task | level | sample | best verdict")
    assert table[-1][:4] == ["level3/odd|name", "3", "1", "TIMEOUT"]
    assert all(len(row) == 8 for row in table)


def test_comparison_tables(compared: str) -> None:
    overall = _table(compared, "metric | A | B | Δ (B − A)")
    rows = {row[0]: row[1:] for row in overall[1:]}
    assert rows["fast_1.2 (vs eager)"] == ["33.3%", "0.0%", "−33.3 pp"]
    assert rows["correct rate"] == ["66.7%", "66.7%", "+0.0 pp"]
    assert "### Level 1" in compared and "### Level 2" in compared
    tasks = _table(compared, "task | A verdict | A speedup vs eager")
    assert tasks[1] == [samples.GEMM, "PASS", "1.50× [1.40, 1.60]", "1.10× [1.00, 1.20]",
                        "PASS", "1.20× [1.10, 1.30]", "1.10× [1.00, 1.20]"]
    assert "**A**: run `0190aaaabbbb0001`" in compared and "**B**: run `0190ccccdddd0002`" in compared


def test_a_baseline_that_was_not_measured_reads_as_a_dash_not_zero() -> None:
    from kernelwright.report.metrics_models import SpeedupStats

    context = samples.context()
    main = context.main
    unmeasured = main.metrics.overall.model_copy(update={"compile": SpeedupStats(fast_p={"0": 2 / 3, "1.0": None},
                                                                                 geomean_all=None, timed_tasks=0)})
    metrics = main.metrics.model_copy(update={"overall": unmeasured})
    context = ReportContext(main=main.model_copy(update={"metrics": metrics}), generated_at=context.generated_at)
    rows = {row[0]: row[1:] for row in _table(render_markdown(context), "metric | overall | level 1 | level 2")[1:]}
    assert rows["fast_0 (vs torch.compile)"][0] == "66.7%"  # correctness does not need the baseline
    assert rows["fast_1.0 (vs torch.compile)"][0] == "–"
    assert rows["geomean speedup, all tasks, failure = 1.0 (vs torch.compile)"][0] == "–"
