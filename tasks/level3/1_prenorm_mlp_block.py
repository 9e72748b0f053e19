"""Pre-norm transformer MLP block: x + fc2(GELU(fc1(LayerNorm(x))))."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "seq_len": 21, "d_model": 64, "hidden": 256},
    "odd": {"batch_size": 3, "seq_len": 509, "d_model": 771, "hidden": 3001},
    "batch": {"batch_size": 2},
}

batch_size = 8
seq_len = 1024
d_model = 1024
hidden = 4096


class Model(nn.Module):
    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.2 * torch.randn(d_model))
            self.norm.bias.copy_(0.2 * torch.randn(d_model))
        self.fc1 = nn.Linear(d_model, hidden)
        self.fc2 = nn.Linear(hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


def get_inputs():
    return [torch.randn(batch_size, seq_len, d_model)]


def get_init_inputs():
    return [d_model, hidden]
