"""Search trees (`show --tree`, the HTML and Markdown reports) and `report --compare` at equal spend, from stores
written by hand: candidates across two samples linked by parent, their verifications and Coder calls."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelwright.cli import app
from kernelwright.report.plots import spend_curves
from kernelwright.report.tree import TreeNode
from kernelwright.store import Candidate, LLMCall, Run, SampleRecord, Store, TaskRecord, Verification
from kernelwright.verify.models import VerificationResult

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def _candidate(store: Store, run: Run, task: str, sample: int, round_: int, parent: Candidate | None,
               verdict: str, speedup: float | None, cost: float, hint: str | None = None) -> Candidate:
    call = store.add(LLMCall(run_id=run.id, role="coder", model="scripted/pool-cpu", task_hash=task, round=round_,
                             sample=sample, purpose="optimise" if parent else "seed", tokens_in=1000,
                             tokens_out=200, cost_usd=cost))
    candidate = store.add(Candidate(run_id=run.id, task_hash=task, sample=sample, round=round_, backend="cpu",
                                    origin="coder:optimise" if parent else "coder:seed",
                                    source=f"# {task} {sample} {round_}\n", parent_id=parent.id if parent else None,
                                    llm_call_id=call.id, hint=hint))
    timing = {"speedup_eager": speedup} if speedup is not None else None
    result = VerificationResult(verdict=verdict, summary=verdict, task="level1/6_softmax", task_hash=task,
                                device="cpu", timing=timing, perf="PERF_VALID" if speedup else None)
    store.add(Verification(candidate_id=candidate.id, verdict=verdict, purpose="round",
                           evidence=result.model_dump(mode="json")))
    return candidate


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, str, str, dict[str, str]]:
    """Run A: a tree over two samples of one task (sample 1 branches off sample 0's seed); run B: a chain."""
    db = tmp_path / "kw.db"
    with Store(db) as store:
        store.upsert_task(TaskRecord(hash="h", name="6_softmax", level=1, source="..."))
        a = store.add(Run(kind="agent", status="finished", config={"model": "scripted/pool-cpu", "device": "cpu"}))
        seed = _candidate(store, a, "h", 0, 0, None, "PASS", 0.4, 0.01)
        fused = _candidate(store, a, "h", 0, 1, seed, "PASS", 0.9, 0.01, hint="fusion")
        broken = _candidate(store, a, "h", 1, 1, seed, "COMPILE_FAIL", None, 0.01)
        fixed = _candidate(store, a, "h", 1, 2, broken, "PASS", 1.6, 0.01)
        for sample, best in ((0, fused), (1, fixed)):
            store.add(SampleRecord(run_id=a.id, task_hash="h", sample=sample, status="finished",
                                   best_candidate_id=best.id))
        b = store.add(Run(kind="agent", status="finished", config={"model": "scripted/pool-cpu", "device": "cpu"}))
        first = _candidate(store, b, "h", 0, 0, None, "PASS", 0.5, 0.02)
        _candidate(store, b, "h", 0, 1, first, "INCORRECT", None, 0.02)
        store.add(SampleRecord(run_id=b.id, task_hash="h", sample=0, status="finished", best_candidate_id=first.id))
    return db, a.id, b.id, {"seed": seed.id, "fused": fused.id, "broken": broken.id, "fixed": fixed.id}


def test_show_tree_nests_candidates_across_samples_and_marks_the_best(stored):
    db, a, _, ids = stored
    result = runner.invoke(app, ["show", a, "--tree", "--db", str(db)], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "level1/6_softmax"
    depth = {name: next(len(line) - len(line.lstrip(" │├└─")) for line in lines if cid in line)
             for name, cid in ids.items()}
    assert depth["fused"] == depth["broken"] > depth["seed"] and depth["fixed"] > depth["broken"]
    fixed = next(line for line in lines if ids["fixed"] in line)
    assert "sample 1 round 2" in fixed and "PASS" in fixed and "1.60x eager" in fixed and fixed.endswith("best")
    assert sum(line.endswith("best") for line in lines) == 1
    assert "COMPILE_FAIL" in next(line for line in lines if ids["broken"] in line)
    assert "round 1 · coder:optimise · hint fusion · PASS · 0.90x eager" in next(l for l in lines if ids["fused"] in l)

    as_json = json.loads(runner.invoke(app, ["show", a, "--tree", "--json", "--db", str(db)]).stdout)
    [root] = as_json["tasks"][0]["tree"]
    assert root["candidate_id"] == ids["seed"]
    assert [c["candidate_id"] for c in root["children"]] == [ids["fused"], ids["broken"]]
    assert root["children"][1]["children"][0]["best"] is True


def test_show_without_tree_still_shows_rounds(stored):
    db, a, _, _ = stored
    text = runner.invoke(app, ["show", a, "--db", str(db)], env=WIDE).stdout
    assert "round 0" in text and "sample 1 · round 2" in text and "best:" not in text.splitlines()[0]


def test_html_report_draws_the_tree_and_compares_at_equal_spend(stored, tmp_path):
    db, a, b, ids = stored
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", a, "--compare", b, "--html", str(out), "--db", str(db)], env=WIDE)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    tree = page[page.index('class="search-tree"'):]
    tree = tree[:tree.index("</details>")]
    assert "4 candidates" in tree
    # nesting: the fixed candidate's <li> sits inside the broken one's, which sits inside the seed's
    seed_at, broken_at, fixed_at = (tree.index(f'a-task-level1-6_softmax-{ids[k]}"') for k in ("seed", "broken", "fixed"))
    assert seed_at < broken_at < fixed_at
    assert tree[seed_at:fixed_at].count("<ul") == 2 and tree[seed_at:fixed_at].count("</ul>") == 0
    assert re.search(rf'id="a-task-level1-6_softmax-{ids["fixed"]}" class="node best"', tree)
    assert tree.count("node best") == 1 and "1.60× eager" in tree and "hint <code>fusion</code>" in tree

    spend = page[page.index("At equal spend"):page.index("How each number is computed")]
    rows = re.findall(r"<tr><td>([AB])</td>(.*?)</tr>", spend, flags=re.DOTALL)
    cells = {label: re.findall(r'<td class="num">(.*?)</td>', row) for label, row in rows}
    # calls, tokens in, tokens out, cost, fast_0, fast_1, geomean, found fast_1, found geomean
    assert cells["A"] == ["4", "4,000", "800", "$0.0400", "0.0%", "0.0%", "1.00×", "100.0%", "1.60×"]
    assert cells["B"] == ["2", "2,000", "400", "$0.0400", "0.0%", "0.0%", "1.00×", "0.0%", "0.50×"]
    assert spend.count("<svg") == 2 and "LLM dollars spent" in spend


def test_markdown_report_lists_the_tree_and_the_spend_table(stored):
    db, a, b, ids = stored
    text = runner.invoke(app, ["report", a, "--compare", b, "--db", str(db)], env=WIDE).stdout
    assert "| A | 4 | 4,000 | 800 | $0.0400 |" in text
    trees = text[text.index("## Search trees"):text.index("## Harness settings")]
    fixed = next(line for line in trees.splitlines() if ids["fixed"] in line)
    assert fixed.startswith("    - **sample 1 round 2") and fixed.endswith("best**")
    assert next(line for line in trees.splitlines() if ids["seed"] in line).startswith("- sample 0 round 0")


def test_a_node_names_its_hint():
    node = TreeNode(candidate_id="c1", sample=2, round=3, origin="coder:optimise", hint="simd", verdict="PASS",
                    speedup=1.25, best=True)
    assert node.label() == "sample 2 round 3 · coder:optimise · hint simd · PASS · 1.25x eager · c1 · best"


def test_spend_curves_draw_one_line_per_run():
    svg = spend_curves({"A": [(0.01, 1.0), (0.02, 1.5)], "B": [(0.01, 1.0)]}, "t", "dollars", "geomean")
    assert svg.count('class="line"') == 2 and svg.count('class="point"') == 3
