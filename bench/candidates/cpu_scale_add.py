"""y = alpha * a + b with OpenMP."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <omp.h>

torch::Tensor scale_add(torch::Tensor a, torch::Tensor b, double alpha) {
    auto x = a.contiguous();
    auto z = b.contiguous();
    auto y = torch::empty_like(x);
    const float* pa = x.data_ptr<float>();
    const float* pb = z.data_ptr<float>();
    float* py = y.data_ptr<float>();
    const int64_t n = x.numel();
    #pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) py[i] = (float)alpha * pa[i] + pb[i];
    return y;
}
"""

ext = load_inline(name="scale_add_cpu", cpp_sources=CPP_SOURCE, functions=["scale_add"])


class ModelNew(nn.Module):
    def forward(self, a, b):
        return ext.scale_add(a, b, 2.0)
