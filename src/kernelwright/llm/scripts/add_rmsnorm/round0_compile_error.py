import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <cmath>

torch::Tensor add_rmsnorm(torch::Tensor x, torch::Tensor residual, torch::Tensor weight, double eps) {
    TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32, "x must be a 2-D float32 tensor");
    auto a = x.contiguous();
    auto b = residual.contiguous();
    auto w = weight.contiguous();
    auto out = torch::empty_like(a);
    const int64_t rows = a.size(0), cols = a.size(1);
    const float* pa = a.data_ptr<float>();
    const float* pb = b.data_ptr<float>();
    const float* pw = w.data_ptr<float>();
    float* po = out.data_ptr<float>();
    for (int64_t r = 0; r < rows; ++r) {
        double total = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
            const float h = pa[r * cols + c] + pb[r * cols + c];
            total += h * h;
        }
        const float scale = 1.0f / std::sqrt(static_cast<float>(total / cols) + eps)
        for (int64_t c = 0; c < cols; ++c)
            po[r * cols + c] = (pa[r * cols + c] + pb[r * cols + c]) * scale * pw[c];
    }
    return out;
}
"""

ext = load_inline(name="add_rmsnorm_v0", cpp_sources=CPP_SOURCE, functions=["add_rmsnorm"])


class ModelNew(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return ext.add_rmsnorm(x, residual, self.weight, self.eps)
