"""The shipped pool model (scripted/pool-cpu): its reply rule, on plain prompts; one variant built and verified."""

import json
import re
from pathlib import Path

import pytest

from kernelwright.agents.coder import extract_source
from kernelwright.agents.judge import parse_verdict
from kernelwright.llm import CallContext, LLMError, Message, RepliesExhausted, open_model
from kernelwright.llm.pool import PoolModel

SOFTMAX = "level1/6_softmax"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pool() -> PoolModel:
    model = open_model("scripted/pool-cpu")
    assert isinstance(model, PoolModel)
    return model


def call(model, prompt, role="coder", purpose="optimise", task=SOFTMAX):
    context = CallContext(run_id="run-1", role=role, purpose=purpose, task=task)
    return model.complete([Message(role="system", content="system words"), Message(role="user", content=prompt)],
                          context)


def marker(text):
    return re.search(r"^# pool: (\S+)$", text, re.MULTILINE).group(1)


def reply_label(model, prompt, purpose="optimise", task=SOFTMAX):
    source = extract_source(call(model, prompt, purpose=purpose, task=task).text)
    assert source is not None
    return marker(source)


def prompt_of(model, label, direction=None, task=SOFTMAX, before=""):
    body = model._sources[task][label]
    hint = f"\nOptimisation direction: {direction}\n" if direction else ""
    return f"## Task {task}\n{before}## Your previous candidate\n```python\n{body}```\n{hint}"


def test_every_variant_carries_its_marker_and_defines_modelnew(pool):
    assert pool.tasks == ["level1/3_sum_middle_dim", SOFTMAX, "level1/9_rms_norm"]
    for task in pool.tasks:
        labels = set(pool._sources[task])
        assert "base" in labels and any("!compile_error" in x for x in labels) and any("!wrong_result" in x
                                                                                           for x in labels)
        for label, text in pool._sources[task].items():
            assert marker(text) == f"{task.split('/')[1]}/{label}"
            assert extract_source(f"```python\n{text}```") is not None


def test_seed_takes_the_hinted_variant_else_base(pool):
    assert reply_label(pool, "## Task\nOptimisation direction: threading\n", "seed") == "6_softmax/threading"
    assert reply_label(pool, "## Task\nOptimisation direction: tiling\n", "seed") == "6_softmax/base"
    assert reply_label(pool, "## Task\nOptimisation direction: loop_order\n", "seed",
                       task="level1/3_sum_middle_dim") == "3_sum_middle_dim/loop_order"
    # a seed's prompt may show other kernels (memory examples); it still starts from nothing
    assert reply_label(pool, prompt_of(pool, "fusion+simd", "threading"), "seed") == "6_softmax/threading"


def test_optimise_adds_the_direction_to_the_parent(pool):
    assert reply_label(pool, prompt_of(pool, "fusion", "threading")) == "6_softmax/fusion+threading"
    assert reply_label(pool, prompt_of(pool, "fusion+threading", "simd")) == "6_softmax/fusion+simd+threading"
    formatted = prompt_of(pool, "fusion") + "- **Optimisation direction:** `simd`\n"
    assert reply_label(pool, formatted) == "6_softmax/fusion+simd"
    # inspirations after the parent do not change which candidate is the parent
    inspired = prompt_of(pool, "simd", "fusion") + "## Inspiration\n" + pool._sources[SOFTMAX]["threading"]
    assert reply_label(pool, inspired) == "6_softmax/fusion+simd"


def test_a_spent_or_unknown_direction_gets_a_broken_variant_or_the_parent(pool):
    seen = set()
    for direction in ("threading", "blocking", "tiling"):
        for extra in range(20):
            prompt = prompt_of(pool, "fusion+threading", direction) + f"\nround {extra}\n"
            label = reply_label(pool, prompt)
            assert label == reply_label(pool, prompt)  # deterministic
            seen.add(label)
    assert seen <= {"6_softmax/fusion+threading", "6_softmax/fusion!compile_error",
                    "6_softmax/threading!wrong_result"}
    assert "6_softmax/fusion+threading" in seen and len(seen) > 1


def test_a_chain_without_hints_wanders_deterministically(pool):
    labels = [reply_label(pool, prompt_of(pool, "base", before=f"round {i}\n")) for i in range(12)]
    assert labels == [reply_label(pool, prompt_of(pool, "base", before=f"round {i}\n")) for i in range(12)]
    assert {"6_softmax/threading", "6_softmax/simd", "6_softmax/fusion"} & set(labels)
    assert len(set(labels)) > 1


def test_repair_of_a_broken_variant_gets_its_fix(pool):
    assert reply_label(pool, prompt_of(pool, "fusion!compile_error"), "repair") == "6_softmax/fusion"
    assert reply_label(pool, prompt_of(pool, "threading!wrong_result"), "repair") == "6_softmax/threading"


def test_judge_replies_parse_and_name_the_next_optimisation(pool):
    correction = parse_verdict(call(pool, prompt_of(pool, "threading!wrong_result"), "judge", "correction").text,
                               "correction")
    assert "last column" in correction.critical_issue and "c < cols" in correction.fix
    advice = parse_verdict(call(pool, prompt_of(pool, "fusion"), "judge", "optimisation").text, "optimisation")
    assert "OpenMP" in advice.optimisation  # threading comes first among the missing directions
    done = parse_verdict(call(pool, prompt_of(pool, "fusion+simd+threading"), "judge", "optimisation").text,
                         "optimisation")
    assert "every optimisation" in done.bottleneck
    both = call(pool, prompt_of(pool, "simd!compile_error", task="level1/9_rms_norm"), "judge", "reformat",
                task="level1/9_rms_norm").text
    assert "inv_rms" in parse_verdict(both, "correction").critical_issue
    assert parse_verdict(both, "optimisation").plan


def test_tokens_and_cost_are_counted(pool):
    prompt = prompt_of(pool, "base", "threading")
    completion = call(pool, prompt)
    assert completion.input_tokens == 2 + len(prompt.split())
    assert completion.output_tokens == len(completion.text.split())
    assert completion.cost_usd == pytest.approx(completion.input_tokens * 1e-6 + completion.output_tokens * 5e-6)
    assert completion.text.startswith("This version applies threading.\n\n```python\n# pool: 6_softmax/threading")
    assert call(pool, "## Task", purpose="seed").text.startswith("A plain version, no optimisation yet.\n\n```python\n")


def test_a_task_without_a_pool_ends_its_loop(pool):
    assert pool.remaining("coder", task=SOFTMAX) > 10**6 and pool.remaining("coder", task="level1/1_gelu") == 0
    with pytest.raises(RepliesExhausted, match="no kernels for task level1/1_gelu"):
        call(pool, "anything", task="level1/1_gelu")


def test_a_variant_without_its_marker_is_refused(tmp_path):
    (tmp_path / "k.py").write_text("class ModelNew: ...\n")
    path = tmp_path / "bad-pool.json"
    path.write_text(json.dumps({"pool": {"level1/6_softmax": {"variants": {"base": {"file": "k.py"}}}}}))
    with pytest.raises(LLMError, match=r"k\.py lacks its marker `# pool: 6_softmax/base`"):
        open_model(f"scripted/{path}")


def test_a_pool_variant_passes_verification(tmp_path, build_cache_root):
    from typer.testing import CliRunner

    from kernelwright.cli import app

    source = tmp_path / "candidate.py"
    source.write_text(PoolModel("pool-cpu")._sources["level1/3_sum_middle_dim"]["loop_order+threading"])
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "runs.db"), "verify", "level1/3_sum_middle_dim", str(source), "--device", "cpu",
              "--json", "--no-timing", "--tasks-dir", str(ROOT / "tasks")],
        env={"KERNELWRIGHT_CACHE": str(build_cache_root)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "PASS"
