import pytest

from kernelwright.agents.coder import coder_messages, extract_source
from kernelwright.agents.evidence import evidence_from
from kernelwright.agents.judge import Correction, FreeTextAdvice, Optimisation
from kernelwright.profile.models import KernelRow, ProfileReport

MODULE = "import torch.nn as nn\n\n\nclass ModelNew(nn.Module):\n    def forward(self, x):\n        return x\n"


def test_seed_shows_the_reference_and_teaches_the_format(task, cuda_sheet):
    system, user = coder_messages("seed", task=task, backend="cuda", hardware=cuda_sheet)
    assert system.role == "system" and user.role == "user"
    assert task.source.strip() in user.content
    assert "float32[16384, 16384]" in user.content
    assert "class ModelNew(nn.Module)" in system.content and "load_inline" in system.content
    assert "cuda_sources" in system.content and "NATIVE_STREAM" in system.content
    assert "SMs: 132" in system.content


def test_cpu_system_prompt_teaches_openmp_not_cuda(task, cpu_sheet):
    system = coder_messages("seed", task=task, backend="cpu", hardware=cpu_sheet)[0].content
    assert "OpenMP" in system and "-fopenmp" in system
    assert "__global__" not in system and "CUDA_ON_CPU_BACKEND" in system
    assert "vector width: 512 bits" in system


def test_repair_shows_failure_where_and_how_much(task, cpu_sheet, candidate, results):
    evidence = evidence_from(results["incorrect_elementwise"])
    advice = Correction(critical_issue="The output is scaled by 1.001.", evidence="every value is 0.1% high",
                        fix="Drop the scale factor.")
    user = coder_messages("repair", task=task, backend="cpu", hardware=cpu_sheet, previous_source=candidate,
                          evidence=evidence, advice=advice)[1].content
    assert task.source.strip() in user and candidate.strip() in user
    assert "shape 'small' (batch_size=16, features=509), normal inputs" in user
    assert "max |error| 4.944e-05 at index [11, 387]" in user
    assert "input distributions that failed: normal, uniform, large, tiny_zeros, heavy_tail" in user
    assert "Critical issue: The output is scaled by 1.001." in user and "Minimal fix: Drop the scale factor." in user


def test_repair_shows_the_trimmed_compile_error(task, cpu_sheet, candidate, results):
    user = coder_messages("repair", task=task, backend="cpu", hardware=cpu_sheet, previous_source=candidate,
                          evidence=evidence_from(results["compile_fail"]), advice=None)[1].content
    assert "main.cpp:11:29: error: ‘cols’ was not declared in this scope" in user
    assert "/tmp/kw-build" not in user
    assert candidate.strip() in user and task.source.strip() in user


def test_repair_shows_static_findings_with_rule_ids(task, cpu_sheet, candidate, results):
    user = coder_messages("repair", task=task, backend="cpu", hardware=cpu_sheet, previous_source=candidate,
                          evidence=evidence_from(results["static_reject"]),
                          advice=FreeTextAdvice(text="Remove the std::system call."))[1].content
    assert "[REJECT NATIVE_PROCESS] line 207" in user
    assert "Remove the std::system call." in user


def test_optimise_shows_timing_profile_and_plan(task, cuda_sheet, candidate, results):
    profile = ProfileReport(tool="ncu", device="cuda", ok=True, kernels=[
        KernelRow(name="softmax_kernel", own=True, calls=5, total_us=400.0,
                  metrics={"dram__throughput.avg.pct_of_peak_sustained_elapsed": 37.0})])
    plan = Optimisation(bottleneck="memory bound at 37% of DRAM peak", evidence=["dram__throughput 37%"],
                        optimisation="read each row once with float4 loads",
                        plan=["load rows as float4", "fuse passes"])
    user = coder_messages("optimise", task=task, backend="cuda", hardware=cuda_sheet, previous_source=candidate,
                          evidence=evidence_from(results["pass_cpu"]), advice=plan, profile=profile)[1].content
    assert task.source.strip() in user and candidate.strip() in user
    assert "speedup 0.30x" in user and "softmax_kernel" in user and "DRAM throughput 37% of peak" in user
    assert "Bottleneck: memory bound at 37% of DRAM peak" in user and "1. load rows as float4" in user


def test_later_rounds_need_the_previous_candidate(task, cpu_sheet, results):
    with pytest.raises(ValueError):
        coder_messages("repair", task=task, backend="cpu", hardware=cpu_sheet, previous_source=None,
                       evidence=evidence_from(results["compile_fail"]))


def test_extract_source_takes_the_last_block_with_modelnew():
    draft = MODULE.replace("return x", "return x + 1")
    reply = f"Plan.\n```python\n{draft}```\nThen:\n```cpp\nint main() {{}}\n```\nFinal:\n```python\n{MODULE}```\nDone."
    assert extract_source(reply) == MODULE


def test_extract_source_accepts_py_and_unlabelled_blocks():
    assert extract_source(f"```py\n{MODULE}```") == MODULE
    assert extract_source(f"```\n{MODULE}```") == MODULE
    assert extract_source(f"```python\n{MODULE}```\n```python\nprint('helper')\n```") == MODULE
    assert extract_source(f"```python\r\n{MODULE}```\r\n".replace("\n", "\r\n").replace("\r\r", "\r")) == MODULE


def test_extract_source_takes_a_bare_module_whole():
    assert extract_source(MODULE) == MODULE
    assert extract_source("Here it is:\n" + MODULE) is None  # prose around unfenced code does not parse


@pytest.mark.parametrize("reply", [
    "",
    "I think the kernel should use shared memory.",
    "```python\nimport torch\nclass Model(nn.Module):\n    pass\n```",
    "```cpp\nclass ModelNew {};\n```",
    "```python\nclass ModelNew(nn.Module):\n    def forward(self, x)\n        return x\n```",
    "```python\nimport torch\n\nclass ModelNew(nn.Module):\n    def forward(self, x):\n        return (x",
])
def test_extract_source_returns_none_without_usable_code(reply):
    assert extract_source(reply) is None
