"""Candidate sources for verifier tests. They all share one C++ extension, so one build serves every test."""

CPP_SOURCE = r'''
#include <torch/extension.h>
#include <omp.h>
#include <cmath>
#include <limits>

static void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, bool stable, bool low_precision) {
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = x + r * cols;
        float* out = y + r * cols;
        float peak = stable ? -std::numeric_limits<float>::infinity() : 0.0f;
        if (stable) for (int64_t c = 0; c < cols; ++c) peak = std::max(peak, in[c]);
        double total = 0.0;
        for (int64_t c = 0; c < cols; ++c) { out[c] = std::exp(in[c] - peak); total += out[c]; }
        const float scale = static_cast<float>(1.0 / total);
        for (int64_t c = 0; c < cols; ++c) {
            float value = out[c] * scale;
            if (low_precision) value = static_cast<float>(static_cast<at::BFloat16>(value));
            out[c] = value;
        }
    }
}

torch::Tensor softmax_forward(torch::Tensor x) {
    TORCH_CHECK(x.dtype() == torch::kFloat32 && x.dim() == 2, "expects a 2-D float32 tensor");
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    softmax_rows(input.data_ptr<float>(), out.data_ptr<float>(), input.size(0), input.size(1), true, false);
    return out;
}

torch::Tensor softmax_unstable(torch::Tensor x) {
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    softmax_rows(input.data_ptr<float>(), out.data_ptr<float>(), input.size(0), input.size(1), false, false);
    return out;
}

torch::Tensor softmax_bf16(torch::Tensor x) {
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    softmax_rows(input.data_ptr<float>(), out.data_ptr<float>(), input.size(0), input.size(1), true, true);
    return out;
}

torch::Tensor uninitialised(torch::Tensor x) { return torch::empty_like(x); }

torch::Tensor crash(torch::Tensor x) {
    volatile float* nowhere = nullptr;
    nowhere[x.numel()] = 1.0f;
    return x;
}

torch::Tensor spin(torch::Tensor x) {
    volatile int64_t counter = 0;
    while (true) { counter = counter + 1; }
    return x;
}
'''

FUNCTIONS = ["softmax_forward", "softmax_unstable", "softmax_bf16", "uninitialised", "crash", "spin"]

TEMPLATE = '''
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = {cpp!r}

ext = load_inline(name="softmax_ext", cpp_sources=CPP_SOURCE, functions={functions!r}, extra_cflags=["-O0"])


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
{body}
'''


def candidate(body: str) -> str:
    """A full candidate whose forward() is `body` (indented by the caller's 8 spaces)."""
    return TEMPLATE.format(cpp=CPP_SOURCE, functions=FUNCTIONS, body=body)


HONEST = candidate("        return ext.softmax_forward(x)")
