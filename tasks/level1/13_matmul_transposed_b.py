"""Half-precision matrix multiplication C = A @ B^T with A (m, k) and B stored as (n, k)."""

import torch
import torch.nn as nn

DTYPE = "float16"
VARIANTS = {
    "small": {"m": 96, "n": 80, "k": 129},
    "odd": {"m": 3001, "n": 2047, "k": 4093},
    "batch": {"m": 1024},
}

m = 8192
n = 8192
k = 8192


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b.transpose(0, 1))


def get_inputs():
    return [torch.randn(m, k) * 0.5, torch.randn(n, k) * 0.5]


def get_init_inputs():
    return []
