"""Exact (erf-based) GELU activation applied elementwise to a 2D tensor."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"rows": 37, "cols": 1000},
    "odd": {"rows": 4099, "cols": 9973},
    "batch": {"rows": 1024},
}

rows = 16384
cols = 32768


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)


def get_inputs():
    return [torch.randn(rows, cols) * 2.0]


def get_init_inputs():
    return []
