"""The HTML report: one self-contained, well-formed file with every task, plot, harness fact and rule; escaped."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import report_samples as samples

from kernelwright.report import plots
from kernelwright.report.context import ReportContext, RunReport, build_context
from kernelwright.report.harness import collect_harness
from kernelwright.report.html import render_html
from kernelwright.report.metrics_models import EvalMetrics, Metrics
from kernelwright.report.trajectory import RunView
from kernelwright.store import Candidate, Run, Store, TaskRecord, Verification

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base", "embed", "track"}
SVG = "{http://www.w3.org/2000/svg}"


class _Tags(HTMLParser):
    """Collects every tag with its attributes and checks that elements nest and close."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(samples.context())


@pytest.fixture(scope="module")
def compared() -> str:
    return render_html(samples.context(compare=True))


def test_one_self_contained_file(page: str) -> None:
    tags = _parse(page)
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert not tags.errors and not tags.stack
    names = {tag for tag, _ in tags.tags}
    assert "script" not in names and "link" not in names and "img" not in names and "iframe" not in names
    for tag, attrs in tags.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            assert value is None or value.startswith("#"), f"<{tag} {key}={value}> leaves the file"
    assert "@import" not in page and "url(" not in page
    assert len(re.findall(r"<style>", page)) == 1


def test_header_names_run_models_and_machine(page: str) -> None:
    for fact in ("0190aaaabbbb0001", "coder-model-x", "judge-model-y", "NVIDIA H100 80GB HBM3", "550.54", "12.4",
                 "2.5.1", "3.11.9", "abc1234", "2025-01-02T03:04:05+00:00"):
        assert fact in page


def test_every_task_has_a_row_linking_to_its_section(page: str) -> None:
    tags = _parse(page)
    ids = {attrs.get("id") for _, attrs in tags.tags}
    hrefs = {attrs.get("href") for tag, attrs in tags.tags if tag == "a"}
    for task in (samples.GEMM, samples.RELU, samples.CONV):
        anchor = "task-" + re.sub(r"[^A-Za-z0-9_-]+", "-", task)
        assert anchor in ids and f"#{anchor}" in hrefs
    assert page.index("level1/1_Square") < page.index("level1/19_ReLU") < page.index("level2/7_Conv3d")


def test_every_plot_is_inline_svg(page: str) -> None:
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    assert len(svgs) == 4
    titles = [ET.fromstring(svg).find(f"{SVG}title").text for svg in svgs]
    assert titles == ["Speedup distribution", "fast_p against the threshold p", "fast_p (vs eager) by round",
                      "Cost against speedup per task"]


def test_harness_settings_are_stated(page: str) -> None:
    section = page[page.index('id="harness"'):page.index('id="trajectories"')]
    for fact in ("float32", "float16", "bfloat16", "0.0015", "4.0", "bwrap",
                 "network isolated", "cuda_events (3 timed verifications)", "min_samples = 30", "heavy_tail",
                 "tiny_zeros", "Student-t", "424242", "4243, 4244", "nominal, odd", "loaded 2", "manual_seed",
                 "memcheck clean (2)", "not run: compute-sanitizer is not on PATH"):
        assert fact in section, fact


def test_rule_text_is_shown(page: str) -> None:
    for key, text in samples.RULES.items():
        assert f"<dt>{key}</dt><dd>{html.escape(text)}</dd>" in page


def test_metric_values_for_overall_and_levels(page: str) -> None:
    row = re.search(r"correct rate</td>\s*(.*?)</tr>", page, flags=re.DOTALL).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', row) == ["66.7%", "50.0%", "100.0%"]
    assert "$0.1867" in page and "1.06×" in page and "pass@1" in page


def test_candidate_source_and_advice_are_escaped(page: str) -> None:
    assert "<script>" not in page
    assert '<span class="add">+x = 2  # &lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;\n</span>' in page
    assert '<span class="del">-x = 1' in page
    assert "Use shared-memory tiling &amp; &lt;vectorised&gt; loads." in page


def test_round_evidence_timing_profile_and_cost(page: str) -> None:
    section = page[page.index('id="task-level1-1_Square'):page.index('id="task-level1-19_ReLU"')]
    for fact in ("1 of 12 trials wrong", "off by 3", "1.50× [1.40, 1.60]", "0.75 ms", "cuda_events",
                 "92% of GPU time", "final re-timing of round 1", "6,000", "$0.0600", "PERF_VALID"):
        assert fact in section, fact


def test_comparison_shows_both_runs_and_deltas(compared: str) -> None:
    tags = _parse(compared)
    assert not tags.errors and not tags.stack
    assert "0190aaaabbbb0001" in compared and "0190ccccdddd0002" in compared
    assert "Δ (B − A)" in compared
    row = re.search(r"fast_1\.2</td>\s*(.*?)</tr>", compared, flags=re.DOTALL).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', row) == ["33.3%", "0.0%", "−33.3 pp"]
    gemm = re.search(r'href="#a-task-level1-1_Square[^"]*">.*?</tr>', compared, flags=re.DOTALL).group(0)
    assert "1.50× [1.40, 1.60]" in gemm and "1.20× [1.10, 1.30]" in gemm
    assert len(re.findall(r"<svg\b", compared)) == 10  # four per run, and the two at equal spend
    ids = [attrs["id"] for _, attrs in tags.tags if attrs.get("id")]
    assert len(ids) == len(set(ids))


def test_an_empty_run_still_renders() -> None:
    view = RunView(run=Run(id="empty-run", config={"model": "m"}), tasks=[])
    context = ReportContext(main=RunReport(records=[], metrics=EvalMetrics(overall=Metrics()), view=view))
    page = render_html(context)
    assert not _parse(page).errors
    assert "no correct task with a valid speedup" in page and ">no correct task<" in page
    assert "no rounds recorded" in page and ">no tasks<" in page
    assert "No failures recorded." in page


# ------------------------------------------------------------------------------------------------------- plots


def _marks(svg: str, cls: str) -> list[ET.Element]:
    return [e for e in ET.fromstring(svg).iter() if e.get("class") == cls]


def test_histogram_bars_on_log2_bins() -> None:
    svg = plots.speedup_histogram({"eager": [0.5, 1.1, 1.2, 3.0], "torch.compile": [0.9, 1.05]})
    bars = _marks(svg, "bar")
    assert len(bars) == 5  # eager: [0.5, 0.71), [1, 1.41) twice, [2.83, 4); compile: [0.71, 1), [1, 1.41)
    counts = {"eager": 0, "torch.compile": 0}
    for bar in bars:
        name, count = re.match(r"(.*?): (\d+) task", bar.find(f"{SVG}title").text).groups()
        counts[name] += int(count)
    assert counts == {"eager": 4, "torch.compile": 2}
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "1×" in labels and "2×" in labels and "eager" in labels and "torch.compile" in labels


def test_fast_p_curve_points_and_values() -> None:
    svg = plots.fast_p_curve({"eager": [0.5, 1.1, 1.2, 3.0], "torch.compile": [0.9]}, total=5)
    points = _marks(svg, "point")
    assert len(points) == 10 and len(_marks(svg, "line")) == 2
    tips = [p.find(f"{SVG}title").text for p in points]
    assert "eager: fast_1 = 60.0%" in tips and "eager: fast_0 = 80.0%" in tips and "torch.compile: fast_1 = 0.0%" in tips


def test_fast_p_curve_counts_untimed_correct_tasks_at_zero_only() -> None:
    tips = [p.find(f"{SVG}title").text for p in _marks(plots.fast_p_curve({"eager": [None, 1.5]}, total=4), "point")]
    assert tips == ["eager: fast_0 = 50.0%", "eager: fast_1 = 25.0%", "eager: fast_1.2 = 25.0%",
                    "eager: fast_1.5 = 0.0%", "eager: fast_2 = 0.0%"]


def test_fast_p_by_round_lines_per_p() -> None:
    svg = plots.fast_p_by_round({"0": {"0": 0.25, "1.0": 0.0}, "1": {"0": 0.5, "1.0": 0.25}, "2": {"0": 0.75, "1.0": 0.5}})
    assert len(_marks(svg, "point")) == 6 and len(_marks(svg, "line")) == 2


def test_cost_scatter_points() -> None:
    svg = plots.cost_vs_speedup([("a", 0.1, 1.5), ("b", 0.3, None), ("c", 0.02, 0.4)])
    points = _marks(svg, "point")
    assert len(points) == 3 and sum(1 for p in points if p.get("fill") == "none") == 1


def test_empty_plots_say_no_data() -> None:
    for svg in (plots.speedup_histogram({"eager": []}), plots.fast_p_curve({"eager": []}, total=0),
                plots.fast_p_by_round({}), plots.cost_vs_speedup([])):
        root = ET.fromstring(svg)
        assert "empty" in root.get("class") and not _marks(svg, "point") and not _marks(svg, "bar")


# ----------------------------------------------------------------------------------------- context from a store


def _store_with_run(tmp_path) -> tuple[Store, str]:
    store = Store(tmp_path / "runs.db")
    store.upsert_task(TaskRecord(hash="h1", name="1_Gemm", level=1, source="x", declarations={"dtype": "float16"}))
    run = store.add(Run(kind="agent", config={"model": "m", "device": "cuda"}))
    candidate = store.add(Candidate(run_id=run.id, task_hash="h1", origin="seed", source="print(1)"))
    evidence = {"verdict": "PASS", "summary": "ok", "task": "level1/1_Gemm", "task_hash": "h1", "device": "cuda",
                "seed": 777, "isolation": {"method": "unshare", "network": "isolated", "filesystem": "shared"},
                "correctness": {"weights": {"nominal-778": "loaded", "odd-778": "loaded", "nominal-779": "seeded"},
                                "failures": []},
                "timing": {"method": "cuda_graph", "calls_per_sample": 8, "shape_overrides": {},
                           "settings": {"min_samples": 30}, "speedup_eager": 3.1, "remeasured": [3.4, 3.1]},
                "sanitizer": {"checks": [{"tool": "memcheck", "status": "clean"}, {"tool": "initcheck", "status": "clean"}],
                              "note": None}}
    store.add(Verification(candidate_id=candidate.id, verdict="PASS", evidence=evidence, seed=777))
    return store, run.id


def test_collect_harness_reads_the_evidence(tmp_path) -> None:
    store, run_id = _store_with_run(tmp_path)
    settings = collect_harness(store, run_id, device="cuda")
    assert settings.timing_methods == {"cuda_graph": 1} and settings.calls_per_sample == [8]
    assert settings.isolation[0]["method"] == "unshare" and settings.timing_settings == {"min_samples": 30}
    task = settings.tasks[0]
    assert (task.task, task.dtype, task.shapes, task.inits) == ("level1/1_Gemm", "float16", ["nominal", "odd"], [778, 779])
    assert task.weights == {"loaded": 2, "seeded": 1} and task.seeds == [777] and task.timing_overrides == {}
    assert set(settings.distributions) == {"normal", "uniform", "offset", "large", "rows", "specials", "task",
                                           "channels", "tiny_zeros", "heavy_tail"}
    assert settings.sanitizer == {"memcheck clean": 1, "initcheck clean": 1} and settings.sanitizer_notes == []


def test_a_stored_re_measurement_reaches_the_trajectory(tmp_path) -> None:
    from kernelwright.report.trajectory import load_run

    store, run_id = _store_with_run(tmp_path)
    [task] = load_run(store, run_id).tasks
    assert task.rounds[0].timing["remeasured"] == [3.4, 3.1]


def test_records_trajectory_and_harness_name_tasks_alike(tmp_path) -> None:
    store = Store(tmp_path / "runs.db")
    run = store.add(Run(kind="agent"))
    for task_hash, name, level in (("h0", "zero", 0), ("h1", "none", None)):
        store.upsert_task(TaskRecord(hash=task_hash, name=name, level=level, source="x"))
        candidate = store.add(Candidate(run_id=run.id, task_hash=task_hash, origin="seed", source="s"))
        store.add(Verification(candidate_id=candidate.id, verdict="INCORRECT", evidence={
            "verdict": "INCORRECT", "summary": "wrong", "task": name, "task_hash": task_hash, "device": "cuda"}))
    report = build_context(store, run.id).main
    assert [r.task for r in report.records] == [t.task for t in report.view.tasks] == ["level0/zero", "none"]
    assert [t.task for t in report.harness.tasks] == ["level0/zero", "none"]


def test_build_context_wires_records_metrics_and_trajectory(tmp_path) -> None:
    store, run_id = _store_with_run(tmp_path)
    context = build_context(store, run_id, compare=run_id)
    assert [(r.task, r.best_verdict) for r in context.main.records] == [("level1/1_Gemm", "PASS")]
    assert context.main.metrics.overall.tasks == 1 and context.compare is not None
    assert context.main.run.id == run_id and [t.task for t in context.main.view.tasks] == ["level1/1_Gemm"]
    assert context.main.harness.device == "cuda" and context.main.harness.tasks[0].seeds == [777]
    assert "level1/1_Gemm" in render_html(context)


def test_speedup_axis_labels_are_short_and_few() -> None:
    svg = plots.speedup_histogram({"eager": [1 / 64, 0.3, 1.0, 200.0]})
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if (t.text or "").endswith("×")]
    ticks = [label for label in labels if label != "1×" or labels.count("1×") > 1]
    assert "0.016×" in labels and not any(len(label) > 6 for label in labels)  # 1/64 is 0.016x, not 0.015625x
    assert len(ticks) <= plots.MAX_LOG2_TICKS + 1  # the 1x reference line carries its own label


def test_the_page_uses_the_window_width(page: str) -> None:
    body = re.search(r"body \{[^}]*\}", page).group(0)
    assert "max-width: none" in body


def test_minimum_own_share_comes_from_the_attribution_policy(tmp_path) -> None:
    from kernelwright.verify.policy import load_attribution_policy

    with Store(tmp_path / "kw.db") as store:
        run = store.add(Run(kind="eval", config={}))
        harness = collect_harness(store, run.id)
    assert harness.min_own_share == load_attribution_policy().min_own_share
    context = samples.context()
    context.runs[0].harness = harness.model_copy(update={"tolerances": samples.harness().tolerances,
                                                        "min_own_share": {1: 0.5}})
    page = render_html(context)
    assert "Minimum share of forward() time in the candidate's own code:\nlevel 1 50.0%." in page
