"""Index of the maximum along the last dimension of a (rows, cols) matrix (int64 output)."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"rows": 63, "cols": 1001},
    "odd": {"rows": 4093, "cols": 30011},
    "batch": {"rows": 1000},
}

rows = 16384
cols = 32768


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.argmax(x, dim=-1)


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return []
