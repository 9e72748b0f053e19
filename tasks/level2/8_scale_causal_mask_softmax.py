"""Scale attention scores, apply a causal mask (-inf above the diagonal) and softmax over keys."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "n_heads": 3, "seq_len": 45},
    "odd": {"batch_size": 3, "n_heads": 7, "seq_len": 777},
    "batch": {"batch_size": 4},
}

batch_size = 16
n_heads = 16
seq_len = 1021


class Model(nn.Module):
    def __init__(self, seq_len: int, scale: float = 0.125):
        super().__init__()
        self.scale = scale
        mask = torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        s = (scores * self.scale).masked_fill(self.mask, float("-inf"))
        return torch.softmax(s, dim=-1)


def get_inputs():
    return [torch.randn(batch_size, n_heads, seq_len, seq_len) * 12.0]


def get_init_inputs():
    return [seq_len]
