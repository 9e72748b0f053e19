"""SwiGLU feed-forward: W_down(SiLU(x W_gate) * (x W_up)) with bias-free projections."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"tokens": 29, "d_model": 64, "hidden": 176},
    "odd": {"tokens": 1001, "d_model": 771, "hidden": 2053},
    "batch": {"tokens": 512},
}

tokens = 4096
d_model = 2048
hidden = 5632


class Model(nn.Module):
    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(d_model, hidden, bias=False)
        self.up = nn.Linear(d_model, hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


def get_inputs():
    return [torch.randn(tokens, d_model) * 2.0]


def get_init_inputs():
    return [d_model, hidden]
