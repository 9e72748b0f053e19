"""Batched matrix multiplication of (batch, m, k) by (batch, k, n) tensors."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 3, "m": 33, "k": 65, "n": 47},
    "odd": {"batch_size": 11, "m": 509, "k": 1021, "n": 771},
    "batch": {"batch_size": 48},
}

batch_size = 128
m = 512
k = 1024
n = 768


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.bmm(a, b)


def get_inputs():
    return [torch.randn(batch_size, m, k), torch.randn(batch_size, k, n)]


def get_init_inputs():
    return []
