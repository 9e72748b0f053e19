"""What both report formats show, arranged once: facts, metric tables, failures and tasks of one or two runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .context import ReportContext, RunReport
from .spend import SPEND_RULE, SpendRow, spend_row
from .tables import (
    CompareRow,
    FailureRow,
    MetricTable,
    TaskRow,
    compare_rows,
    failure_rows,
    level_columns,
    level_name,
    metric_table,
    run_facts,
    task_rows,
)


class RunPage(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    label: str  # "A" / "B" in a comparison, "" alone
    prefix: str  # anchor prefix of this run's task sections
    report: RunReport
    facts: list[tuple[str, str]]
    levels: MetricTable  # overall and one column per level
    tasks: list[TaskRow]

    @property
    def samples(self) -> bool:
        """Whether the run has more than one sample of some task (the tables then show the sample)."""
        return any(row.sample for row in self.tasks)

    @property
    def name(self) -> str:
        return f"{self.label} (run {self.report.run.id})" if self.label else f"run {self.report.run.id}"


class Page(BaseModel):
    title: str
    generated_at: str
    runs: list[RunPage]
    overall: MetricTable  # alone: overall and levels; compared: A, B and the delta
    by_level: list[tuple[str, MetricTable]]  # compared only: A, B and the delta per level
    rules: dict[str, str]
    failure_headers: list[str]
    failures: list[FailureRow]
    compared: list[CompareRow]
    spend: list[SpendRow] = []  # compared only: what each run found for what it spent
    spend_rule: str = SPEND_RULE

    @property
    def comparing(self) -> bool:
        return len(self.runs) > 1


def build_page(context: ReportContext) -> Page:
    reports = context.runs
    comparing = len(reports) > 1
    rules: dict[str, str] = {}
    for report in reversed(reports):  # the main run's wording wins
        rules.update(report.metrics.rules)
    runs = [_run_page(report, "AB"[i] if comparing else "", rules) for i, report in enumerate(reports)]
    if comparing:
        a, b = reports[0].metrics, reports[1].metrics
        overall = metric_table([("A", a.overall), ("B", b.overall)], rules, delta=True)
        levels = sorted(set(a.by_level) | set(b.by_level), key=lambda k: (k == "none", k.zfill(8)))
        by_level = [(level_name(k), metric_table([("A", a.by_level.get(k)), ("B", b.by_level.get(k))], rules,
                                                 delta=True)) for k in levels]
        title = f"kernelwright run {reports[0].run.id} compared with {reports[1].run.id}"
    else:
        overall, by_level = runs[0].levels, []
        title = f"kernelwright run {reports[0].run.id}"
    return Page(title=title, generated_at=context.generated_at, runs=runs, overall=overall, by_level=by_level,
                rules=rules, failure_headers=[r.label or "count" for r in runs],
                failures=failure_rows([r.metrics.overall for r in reports]),
                compared=compare_rows([r.records for r in reports], runs[0].prefix) if comparing else [],
                spend=[spend_row(run.label, run.report.metrics.overall, run.report.spend) for run in runs]
                if comparing else [])


def _run_page(report: RunReport, label: str, rules: dict[str, str]) -> RunPage:
    prefix = f"{label.lower()}-task" if label else "task"
    return RunPage(label=label, prefix=prefix, report=report, facts=run_facts(report.run),
                   levels=metric_table(level_columns(report.metrics), rules), tasks=task_rows(report.records, prefix))
