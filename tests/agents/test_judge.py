import json

import pytest

from kernelwright.agents.evidence import evidence_from
from kernelwright.agents.judge import (Correction, FreeTextAdvice, JudgeParseError, Optimisation, advice_text,
                                       judge_messages, parse_verdict, reformat_messages)
from kernelwright.profile.models import KernelRow, ProfileReport

CORRECTION = {"critical_issue": "cols is undeclared", "evidence": "main.cpp:11: 'cols' was not declared",
              "fix": "declare cols = x.size(1)"}
OPTIMISATION = {"bottleneck": "DRAM bound", "evidence": ["dram__throughput 85%"], "optimisation": "fuse the passes",
                "plan": ["one pass for max and sum", "write once"]}


def test_correction_prompt_shows_source_evidence_and_schema(task, cuda_sheet, candidate, results):
    system, user = judge_messages("correction", task=task, backend="cuda", hardware=cuda_sheet, source=candidate,
                                  evidence=evidence_from(results["compile_fail"]), profile=None)
    assert "Judge" in system.content and "SMs: 132" in system.content and "NATIVE_STREAM" in system.content
    assert task.source.strip() in user.content and candidate.strip() in user.content
    assert "main.cpp:11:29: error" in user.content
    assert '"critical_issue"' in user.content and '"bottleneck"' not in user.content


def test_optimisation_prompt_notes_the_profiler_fallback(task, cuda_sheet, candidate, results):
    profile = ProfileReport(tool="torch.profiler", device="cuda", ok=True, fallback="ncu not found",
                            kernels=[KernelRow(name="row_softmax", own=True, calls=4, total_us=800.0)])
    user = judge_messages("optimisation", task=task, backend="cuda", hardware=cuda_sheet, source=candidate,
                          evidence=evidence_from(results["pass_cpu"]), profile=profile)[1].content
    assert "profiled with torch.profiler because ncu" in user.lower() and "ncu not found" in user
    assert "row_softmax" in user and "speedup 0.30x" in user
    assert '"bottleneck"' in user and '"plan"' in user


def test_parse_fenced_json():
    reply = f"Here is my verdict.\n```json\n{json.dumps(CORRECTION, indent=2)}\n```\nGood luck."
    verdict = parse_verdict(reply, "correction")
    assert verdict == Correction(**CORRECTION)


def test_parse_bare_json_with_prose_around_it():
    reply = f"The kernel is memory bound {{roughly}}. {json.dumps(OPTIMISATION)} That is all."
    verdict = parse_verdict(reply, "optimisation")
    assert isinstance(verdict, Optimisation) and verdict.plan == OPTIMISATION["plan"]


def test_parse_tolerates_a_single_string_plan_and_a_wrapper():
    wrapped = {"optimisation": {**OPTIMISATION, "plan": "fuse everything", "evidence": "dram 85%"}}
    verdict = parse_verdict(json.dumps(wrapped), "optimisation")
    assert verdict.plan == ["fuse everything"] and verdict.evidence == ["dram 85%"]


def test_missing_field_is_an_error_naming_it():
    reply = json.dumps({"critical_issue": "x", "evidence": "y"})
    with pytest.raises(JudgeParseError) as caught:
        parse_verdict(reply, "correction")
    assert "fix" in caught.value.error and "fix" in str(caught.value)


def test_empty_field_is_an_error():
    with pytest.raises(JudgeParseError):
        parse_verdict(json.dumps({**CORRECTION, "fix": "  "}), "correction")
    with pytest.raises(JudgeParseError):
        parse_verdict(json.dumps({**OPTIMISATION, "plan": []}), "optimisation")


def test_wrong_kind_is_an_error():
    with pytest.raises(JudgeParseError):
        parse_verdict(json.dumps(OPTIMISATION), "correction")
    with pytest.raises(JudgeParseError):
        parse_verdict(json.dumps(CORRECTION), "optimisation")


def test_no_json_is_an_error():
    with pytest.raises(JudgeParseError, match="no JSON object"):
        parse_verdict("The fix is to declare cols.", "correction")


def test_reformat_keeps_the_conversation_and_shows_the_error(task, cuda_sheet, candidate, results):
    messages = judge_messages("correction", task=task, backend="cuda", hardware=cuda_sheet, source=candidate,
                              evidence=evidence_from(results["compile_fail"]), profile=None)
    try:
        parse_verdict('{"critical_issue": "x"}', "correction")
    except JudgeParseError as error:
        retry = reformat_messages(messages, '{"critical_issue": "x"}', error, "correction")
    assert retry[:2] == messages
    assert retry[2].role == "assistant" and retry[2].content == '{"critical_issue": "x"}'
    assert retry[3].role == "user" and "evidence: Field required" in retry[3].content
    assert '"fix"' in retry[3].content


def test_advice_text_for_each_kind():
    assert "Minimal fix: declare cols = x.size(1)" in advice_text(Correction(**CORRECTION))
    text = advice_text(Optimisation(**OPTIMISATION))
    assert "Bottleneck: DRAM bound" in text and "2. write once" in text
    assert advice_text(FreeTextAdvice(text="  use float4 loads\n")) == "use float4 loads"
    assert advice_text("plain words") == "plain words"
    assert advice_text(None) is None and advice_text(FreeTextAdvice(text=" ")) is None
