"""Sum reduction over the middle dimension of a (batch, n, m) tensor, giving (batch, m)."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 4, "n": 301, "m": 96},
    "odd": {"batch_size": 13, "n": 4093, "m": 1021},
    "batch": {"batch_size": 8},
}

batch_size = 64
n = 4096
m = 2048


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=1)


def get_inputs():
    return [torch.randn(batch_size, n, m)]


def get_init_inputs():
    return []
