"""Square matrix multiplication C = A @ B of two (n, n) float32 matrices."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"n": 129},
    "odd": {"n": 1531},
}

n = 4096


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


def get_inputs():
    return [torch.randn(n, n), torch.randn(n, n)]


def get_init_inputs():
    return []
