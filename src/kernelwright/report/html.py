"""The run report as one self-contained HTML file: inline CSS and SVG, no scripts, nothing fetched."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from . import plots
from .context import ReportContext, RunReport
from .format import MISSING, fmt_ci, fmt_ms, fmt_pct
from .page import RunPage, build_page
from .records import SampleRecord
from .tables import anchor, record_order
from .templating import environment
from .trajectory import RoundView
from .tree import TreeNode


class Figure(BaseModel):
    caption: str
    svg: str


class SampleRounds(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    sample: int
    record: SampleRecord | None
    rounds: list[RoundView]


class TaskSection(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    task: str
    anchor: str
    level: int | None
    samples: list[SampleRounds]
    tree: list[TreeNode] = []  # the task's search tree over all samples

    @property
    def nodes(self) -> int:
        return sum(len(root.walk()) for root in self.tree)


def render_html(context: ReportContext) -> str:
    page = build_page(context)
    runs = [(run, _figures(run.report), _sections(run)) for run in page.runs]
    return environment(autoescape=True).get_template("report.html.j2").render(
        page=page, runs=runs, timing_facts=timing_facts, config_json=_config_json,
        spend_figures=_spend_figures(page.runs) if page.comparing else [])


def _figures(report: RunReport) -> list[Figure]:
    headline = report.headline
    correct = [r for r in headline if r.correct]
    series = {"eager": [r.best_speedup_eager for r in correct],
              "torch.compile": [r.best_speedup_compile for r in correct]}
    timed = {name: [v for v in values if v is not None] for name, values in series.items()}
    # a baseline no correct task was timed against (e.g. no torch.compile run) has no curve, rather than a false 0
    series = {name: values for name, values in series.items() if timed[name] or not correct}
    return [
        Figure(caption="Best speedup of each correct, validly timed task against eager PyTorch and torch.compile "
                       "(log2 bins).", svg=plots.speedup_histogram(timed)),
        Figure(caption="fast_p: the share of all tasks that are correct and faster than p times the baseline "
                       "(at p = 0, the correct rate).", svg=plots.fast_p_curve(series, total=len(headline))),
        Figure(caption="fast_p against eager after each round (the best candidate so far).",
               svg=plots.fast_p_by_round(report.metrics.overall.fast_p_by_round)),
        Figure(caption="LLM dollars spent on each task against its final speedup over eager.",
               svg=plots.cost_vs_speedup([(r.task, r.cost_usd, r.best_speedup_eager if r.correct else None)
                                          for r in headline])),
    ]


def _spend_figures(runs: list[RunPage]) -> list[Figure]:
    """fast_1 and the geomean speedup found so far against dollars spent (Coder calls when no call had a price)."""
    priced = any(point.cost_usd > 0 for run in runs for point in run.report.spend)
    x_label = "LLM dollars spent" if priced else "Coder calls"
    def series(metric: str) -> dict[str, list[tuple[float, float]]]:
        return {run.name: [(p.cost_usd if priced else float(p.coder_calls), getattr(p, metric))
                           for p in run.report.spend] for run in runs}
    return [
        Figure(caption=f"Geometric mean speedup vs eager over all tasks (1.0 without a correct one) of the best "
                       f"candidate found so far, against {x_label.lower()}.",
               svg=plots.spend_curves(series("geomean"), "Geomean speedup found vs spend", x_label, "geomean vs eager")),
        Figure(caption=f"fast_1: the share of tasks with a correct candidate faster than eager found so far, against "
                       f"{x_label.lower()}.",
               svg=plots.spend_curves(series("fast_1"), "fast_1 found vs spend", x_label, "fast_1", share=True)),
    ]


def _sections(run: RunPage) -> list[TaskSection]:
    """One section per task of the run: its trajectory, split by sample when the rounds carry one."""
    report = run.report
    records: dict[str, list[SampleRecord]] = {}
    for record in sorted(report.records, key=record_order):
        records.setdefault(record.task_hash, []).append(record)
    hashes = list(records) + [t.task_hash for t in report.view.tasks if t.task_hash not in records]
    sections = []
    for task_hash in hashes:
        view = report.task_view(task_hash)
        mine = records.get(task_hash, [])
        name = mine[0].task if mine else view.task if view else task_hash[:12]
        level = mine[0].level if mine else view.level if view else None
        by_sample: dict[int, list[RoundView]] = {}
        for round_view in view.rounds if view else []:
            by_sample.setdefault(round_view.sample, []).append(round_view)
        samples = sorted(set(by_sample) | {r.sample for r in mine})
        sections.append(TaskSection(task=name, anchor=anchor(name, run.prefix), level=level, samples=[
            SampleRounds(sample=s, record=next((r for r in mine if r.sample == s), None), rounds=by_sample.get(s, []))
            for s in samples], tree=view.tree if view else []))
    return sections


def timing_facts(timing: dict) -> list[tuple[str, str]]:
    """A round's timing, with its confidence intervals, as label/value pairs."""
    facts = [
        ("candidate", fmt_ms(timing.get("candidate_ms"))),
        ("eager", fmt_ms(timing.get("eager_ms"))),
        ("torch.compile", fmt_ms(timing.get("compile_ms"))),
        ("speedup vs eager", fmt_ci(timing.get("speedup_eager"), timing.get("ci_low"), timing.get("ci_high"))),
        ("speedup vs torch.compile", fmt_ci(timing.get("speedup_compile"), timing.get("ci_compile_low"),
                                            timing.get("ci_compile_high"))),
        ("own-kernel share", fmt_pct(timing.get("own_kernel_share"))),
        ("method", str(timing.get("method") or MISSING)),
    ]
    return [(label, value) for label, value in facts if value != MISSING]


def _config_json(config: dict) -> str:
    return json.dumps(config, indent=2, sort_keys=True, default=str)
