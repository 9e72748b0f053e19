"""Broadcast multiply of a (batch, 1, dim) tensor with a (1, n, dim) tensor into a (batch, n, dim) result."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 5, "n": 129, "dim": 96},
    "odd": {"batch_size": 37, "n": 3001, "dim": 1021},
    "batch": {"batch_size": 16},
}

batch_size = 64
n = 16384
dim = 1024


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


def get_inputs():
    a = torch.randn(batch_size, 1, dim)
    b = torch.randn(1, n, dim) * 1.5
    return [a, b]


def get_init_inputs():
    return []
