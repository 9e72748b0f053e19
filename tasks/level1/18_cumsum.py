"""Inclusive prefix sum (cumsum) along the last dimension of a (rows, cols) matrix."""

import torch
import torch.nn as nn

DTYPE = "float32"
TOLERANCE = {"atol": 1e-2, "rtol": 1e-2}
VARIANTS = {
    "small": {"rows": 31, "cols": 1000},
    "odd": {"rows": 1021, "cols": 12289},
    "batch": {"rows": 4096},
}

rows = 32768
cols = 8192


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, dim=-1)


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return []
