from pathlib import Path

import pytest

from kernelwright.tasks.models import Declarations, InputSpec, Specs, Task
from kernelwright.verify.models import VerificationResult

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "fixtures" / "verification"

CANDIDATE = '''"""Row softmax, one OpenMP thread per row."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <omp.h>
#include <cmath>

torch::Tensor softmax_rows(torch::Tensor x) {
    auto y = torch::empty_like(x);
    const float* px = x.data_ptr<float>();
    float* py = y.data_ptr<float>();
    const int64_t rows = x.size(0), cols = x.size(1);
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        double total = 0.0;
        for (int64_t c = 0; c < cols; ++c) total += std::exp(px[r * cols + c]);
        for (int64_t c = 0; c < cols; ++c) py[r * cols + c] = std::exp(px[r * cols + c]) / total;
    }
    return y;
}
"""

ext = load_inline(name="softmax_rows_marker_7731", cpp_sources=CPP_SOURCE, functions=["softmax_rows"])


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.softmax_rows(x.contiguous())
'''

CUDA_SHEET = {
    "device": "cuda",
    "name": "NVIDIA H100 80GB HBM3",
    "matched": "h100_sxm",
    "bandwidth_gbs": 3350,
    "peak_tflops": {"float32": 66.9, "tf32": 494.7, "float16": 989.4, "bfloat16": 989.4, "float64": 66.9},
    "sm_count": 132,
    "l2_bytes": 52428800,
    "smem_per_sm_bytes": 233472,
    "registers_per_sm": 65536,
    "compute_capability": "9.0",
    "l2_bandwidth_factor": 4.0,
    "known_gpus": {
        "h100_sxm": {"name": "NVIDIA H100 SXM5 80GB", "match": ["H100"], "bandwidth_gbs": 3350, "fp32_tflops": 66.9,
                     "sm_count": 132, "l2_mib": 50},
        "a100_80gb": {"name": "NVIDIA A100 SXM4 80GB", "match": ["A100"], "bandwidth_gbs": 2039, "fp32_tflops": 19.5,
                      "sm_count": 108, "l2_mib": 40},
    },
}

CPU_SHEET = {
    "device": "cpu",
    "name": "Intel(R) Xeon(R) Processor",
    "cores": 2,
    "vector_width_bits": 512,
    "isa": "avx512f",
    "amx": False,
    "caches": {"L1d": "48K", "L2": "2048K"},
    "bandwidth_gbs": 2560.0,
    "peak_tflops": {"float32": 0.64, "float64": 0.32},
}


@pytest.fixture
def task() -> Task:
    path = ROOT / "tasks" / "level1" / "6_softmax.py"
    return Task(
        name="6_softmax", level=1, path="tasks/level1/6_softmax.py", hash="0" * 64,
        docstring="Row-wise softmax over the last dimension of a (batch, features) matrix.",
        source=path.read_text(), constants={"batch_size": 16384, "features": 16384}, declarations=Declarations(),
        specs=Specs(inputs=[InputSpec(index=0, kind="tensor", shape=[16384, 16384], dtype="float32")],
                    init_inputs=[], param_count=0),
    )


@pytest.fixture
def candidate() -> str:
    return CANDIDATE


@pytest.fixture
def cuda_sheet() -> dict:
    return CUDA_SHEET


@pytest.fixture
def cpu_sheet() -> dict:
    return CPU_SHEET


def load_result(name: str) -> VerificationResult:
    return VerificationResult.model_validate_json((RESULTS / f"{name}.json").read_text())


@pytest.fixture
def results() -> dict[str, VerificationResult]:
    return {path.stem: load_result(path.stem) for path in RESULTS.glob("*.json")}
