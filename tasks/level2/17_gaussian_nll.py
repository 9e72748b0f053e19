"""Elementwise Gaussian negative log-likelihood 0.5 * (log(var) + (target - mean)^2 / var)."""

import torch
import torch.nn as nn

DTYPE = "float32"
INPUT_DOMAIN = {0: "real", 1: "positive", 2: "real"}
VARIANTS = {
    "small": {"rows": 37, "cols": 1000},
    "odd": {"rows": 1021, "cols": 12289},
    "batch": {"rows": 1024},
}

rows = 8192
cols = 16384


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, mean: torch.Tensor, var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.log(var) + (target - mean) ** 2 / var)


def get_inputs():
    mean = torch.randn(rows, cols)
    var = torch.exp(0.7 * torch.randn(rows, cols))
    target = mean + torch.randn(rows, cols) * 1.5
    return [mean, var, target]


def get_init_inputs():
    return []
