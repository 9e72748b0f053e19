# pool: 9_rms_norm/fusion+threading
"""RMSNorm over the last dimension in C++ (fusion, threading)."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <omp.h>
#include <cmath>

torch::Tensor rms_norm(torch::Tensor input, torch::Tensor weight, double eps) {
    TORCH_CHECK(input.scalar_type() == torch::kFloat32, "float32 input expected");
    auto x = input.contiguous();
    auto w = weight.contiguous();
    auto y = torch::empty_like(x);
    const int64_t dim = x.size(-1);
    const int64_t rows = dim ? x.numel() / dim : 0;
    const float* px = x.data_ptr<float>();
    const float* __restrict__ pw = w.data_ptr<float>();
    float* py = y.data_ptr<float>();
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const float* __restrict__ in = px + r * dim;
        float* __restrict__ out = py + r * dim;
        double acc = 0.0;
        for (int64_t c = 0; c < dim; ++c) acc += static_cast<double>(in[c]) * in[c];
        const float inv = static_cast<float>(1.0 / std::sqrt(acc / dim + eps));
        for (int64_t c = 0; c < dim; ++c) out[c] = in[c] * inv * pw[c];
    }
    return y;
}
"""

ext = load_inline(name="pool_rms_norm_fusion_threading", cpp_sources=CPP_SOURCE, functions=["rms_norm"])


class ModelNew(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ext.rms_norm(x, self.weight, self.eps)
