"""Rotary position embedding (rotate-half convention) applied to a (batch, heads, seq, head_dim) tensor."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "n_heads": 3, "seq_len": 37, "head_dim": 32},
    "odd": {"batch_size": 5, "n_heads": 3, "seq_len": 1021, "head_dim": 38},
    "batch": {"batch_size": 4},
}

batch_size = 16
n_heads = 32
seq_len = 2048
head_dim = 128


class Model(nn.Module):
    def __init__(self, seq_len: int, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos", angles.cos())
        self.register_buffer("sin", angles.sin())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos + rotated * self.sin


def get_inputs():
    return [torch.randn(batch_size, n_heads, seq_len, head_dim)]


def get_init_inputs():
    return [seq_len, head_dim]
