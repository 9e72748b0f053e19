import re

import jinja2
import pytest

from kernelwright.agents.prompts import environment, render, static_rules
from kernelwright.resources import data_dir
from kernelwright.sandbox.policy import load_static_policy
from kernelwright.sandbox.static_gate import static_gate
from kernelwright.tasks.models import Declarations, Tolerance


def test_every_template_parses():
    names = sorted(path.name for path in data_dir("prompts").glob("*.j2"))
    assert {"coder_system.j2", "coder_seed.j2", "coder_repair.j2", "coder_optimise.j2", "judge_system.j2",
            "judge_correction.j2", "judge_optimisation.j2", "judge_reformat.j2"} <= set(names)
    for name in names:
        environment().get_template(name)


def test_missing_variable_raises(task):
    with pytest.raises(jinja2.UndefinedError):
        render("coder_seed.j2", task=task)  # no backend
    with pytest.raises(jinja2.UndefinedError):
        render("judge_reformat.j2", kind="correction")  # no error


def test_rules_follow_the_policy_with_ids_and_severity():
    policy = load_static_policy()
    cuda = static_rules("cuda")
    forbidden = {rule.id for rule in cuda.forbidden}
    discouraged = {rule.id for rule in cuda.discouraged}
    assert forbidden == {i for i, r in policy.rules.items() if r.severity == "reject" and "cuda" in r.backends}
    assert discouraged == {i for i, r in policy.rules.items() if r.severity == "flag" and "cuda" in r.backends}
    assert "CUDA_ON_CPU_BACKEND" not in forbidden
    assert "CUDA_ON_CPU_BACKEND" in {rule.id for rule in static_rules("cpu").forbidden}
    assert "cuda_runtime.h" in cuda.headers and "cuda_runtime.h" not in static_rules("cpu").headers


def test_rules_partial_lists_forbidden_and_discouraged_apart():
    text = render("_rules.j2", rules=static_rules("cuda"))
    forbidden, discouraged = text.split("Discouraged:")
    assert "- NATIVE_STREAM: private CUDA streams" in forbidden
    assert "- BANNED_MODULE:" in forbidden and "BANNED_MODULE" not in discouraged
    assert "- TORCH_COMPUTE_IN_FORWARD:" in discouraged and "TORCH_COMPUTE_IN_FORWARD" not in forbidden
    assert "c10/" in discouraged  # allowed header prefixes are listed


def test_hardware_sheet_for_a_gpu(cuda_sheet):
    text = render("_hardware.j2", hardware=cuda_sheet)
    assert "- name: NVIDIA H100 80GB HBM3" in text
    assert "- SMs: 132" in text
    assert "- L2 cache: 50 MiB" in text
    assert "- shared memory per SM: 228 KiB" in text
    assert "- memory bandwidth: 3350 GB/s" in text
    assert "float32 66.9" in text and "bfloat16 989.4" in text
    assert "65,536" in text
    assert "matched" not in text and "l2_bandwidth_factor" not in text.replace(" ", "_")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0].startswith("| name | memory bandwidth (GB/s) | fp32 (TFLOP/s) | SMs | L2 cache (MiB)")
    assert "| NVIDIA A100 SXM4 80GB | 2039 | 19.5 | 108 | 40 |" in table


def test_hardware_sheet_for_a_cpu(cpu_sheet):
    text = render("_hardware.j2", hardware=cpu_sheet)
    assert "- cores: 2" in text
    assert "- vector width: 512 bits" in text
    assert "- ISA: avx512f" in text
    assert "- AMX: no" in text
    assert "- caches: L1d 48K, L2 2048K" in text
    assert "|" not in text


@pytest.mark.parametrize("backend", ["cuda", "cpu"])
def test_layout_example_passes_the_static_gate(backend):
    text = render(f"_layout_{backend}.j2")
    example = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    assert "class ModelNew(nn.Module)" in example
    result = static_gate(example, backend=backend)
    assert result.findings == [], result.render()


def test_cuda_layout_teaches_the_fast_build():
    text = render("_layout_cuda.j2")
    cuda_part = re.search(r'CUDA_SOURCE = r"""(.*?)"""', text, re.DOTALL).group(1)
    assert "torch" not in cuda_part and 'extern "C"' in cuda_part
    assert "extra_cuda_cflags" in text and "cuda_sources" in text and "cpp_sources" in text


def test_task_partial_states_the_declarations(task):
    declared = Declarations(dtype="bfloat16", allow_tf32=True, allow_fast_math=True, allow_inplace=True,
                            tolerance=Tolerance(atol=0.01))
    text = render("_task.j2", task=task.model_copy(update={"declarations": declared, "specs": None}))
    assert "- dtype: bfloat16; TF32 tensor cores allowed; fast math allowed" in text
    assert "writing outputs into the inputs is allowed" in text and "atol 0.01" in text
    assert "nominal sizes" not in text and task.source.strip() in text


def test_hardware_sheet_without_a_device():
    text = render("_hardware.j2", hardware={"device": "cuda", "name": None, "note": "no CUDA device visible"})
    assert "- note: no CUDA device visible" in text and "name" not in text
