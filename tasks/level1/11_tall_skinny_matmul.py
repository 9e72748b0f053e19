"""Tall-skinny matrix multiplication of a (m, k) matrix with many rows by a narrow (k, n) matrix."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"m": 2001, "k": 64, "n": 24},
    "odd": {"m": 100003, "k": 1021, "n": 77},
    "batch": {"m": 32768},
}

m = 131072
k = 2048
n = 128


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


def get_inputs():
    return [torch.randn(m, k), torch.randn(k, n) * 0.5]


def get_init_inputs():
    return []
