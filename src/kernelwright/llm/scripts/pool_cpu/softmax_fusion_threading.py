# pool: 6_softmax/fusion+threading
"""Row-wise softmax in C++ (fusion, threading)."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <limits>

torch::Tensor softmax_rows(torch::Tensor input) {
    TORCH_CHECK(input.scalar_type() == torch::kFloat32, "float32 input expected");
    auto x = input.contiguous();
    auto y = torch::empty_like(x);
    const int64_t cols = x.size(-1);
    const int64_t rows = cols ? x.numel() / cols : 0;
    const float* px = x.data_ptr<float>();
    float* py = y.data_ptr<float>();
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const float* __restrict__ in = px + r * cols;
        float* __restrict__ out = py + r * cols;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, in[c]);
        double total = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
            const float e = std::exp(in[c] - mx);
            out[c] = e;
            total += e;
        }
        const float inv = static_cast<float>(1.0 / total);
        for (int64_t c = 0; c < cols; ++c) out[c] *= inv;
    }
    return y;
}
"""

ext = load_inline(name="pool_softmax_fusion_threading", cpp_sources=CPP_SOURCE, functions=["softmax_rows"])


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ext.softmax_rows(x)
