"""RMSNorm followed by a bias-free Linear projection, in bfloat16."""

import torch
import torch.nn as nn

DTYPE = "bfloat16"
VARIANTS = {
    "small": {"tokens": 37, "d_model": 128, "out_features": 192},
    "odd": {"tokens": 1021, "d_model": 2043, "out_features": 3001},
    "batch": {"tokens": 2048},
}

tokens = 16384
d_model = 4096
out_features = 8192


class Model(nn.Module):
    def __init__(self, d_model: int, out_features: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.norm_weight = nn.Parameter(1.0 + 0.2 * torch.randn(d_model))
        self.proj = nn.Linear(d_model, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.norm_weight
        return self.proj(h)


def get_inputs():
    return [torch.randn(tokens, d_model) * 3.0]


def get_init_inputs():
    return [d_model, out_features]
