"""Everything a report renders, gathered from the store once: records, metrics, trajectories, harness settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..store import Run, Store, utc_now
from .harness import HarnessSettings, collect_harness
from .loaded import LoadedRun
from .metrics import compute_metrics
from .metrics_models import EvalMetrics
from .records import SampleRecord, load_records
from .spend import SpendPoint, spend_curve
from .trajectory import RunView, TaskView, load_run


class RunReport(BaseModel):
    """One run's side of a report."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    records: list[SampleRecord]
    metrics: EvalMetrics
    view: RunView
    harness: HarnessSettings = Field(default_factory=HarnessSettings)
    spend: list[SpendPoint] = Field(default_factory=list)  # best found so far after each Coder call (report.spend)

    @property
    def run(self) -> Run:
        return self.view.run

    @property
    def headline(self) -> list[SampleRecord]:
        """Sample 0 of each task (its lowest sample if 0 is missing): what the headline numbers use."""
        first: dict[str, SampleRecord] = {}
        for record in self.records:
            if record.task_hash not in first or record.sample < first[record.task_hash].sample:
                first[record.task_hash] = record
        return list(first.values())

    def task_view(self, task_hash: str) -> TaskView | None:
        return next((t for t in self.view.tasks if t.task_hash == task_hash), None)


class ReportContext(BaseModel):
    """A run's report, optionally side by side with a second run (`compare`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    main: RunReport
    compare: RunReport | None = None
    generated_at: str = Field(default_factory=utc_now)

    @property
    def runs(self) -> list[RunReport]:
        return [self.main] + ([self.compare] if self.compare is not None else [])


def load_report_run(store: Store, run_id: str) -> RunReport:
    loaded = LoadedRun(store, run_id)  # every row the three loaders need, read once
    records = load_records(store, run_id, loaded)
    view = load_run(store, run_id, loaded=loaded)
    tasks = list(dict.fromkeys(r.task_hash for r in records))
    return RunReport(records=records, metrics=compute_metrics(records), view=view,
                     harness=collect_harness(store, run_id, device=view.run.config.get("device"), loaded=loaded),
                     spend=spend_curve(loaded, tasks))


def build_context(store: Store, run_id: str, compare: str | None = None) -> ReportContext:
    return ReportContext(main=load_report_run(store, run_id),
                         compare=load_report_run(store, compare) if compare else None)
