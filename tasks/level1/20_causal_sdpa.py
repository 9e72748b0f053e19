"""Causal scaled dot-product attention softmax(QK^T/sqrt(d) + causal mask) @ V in bfloat16."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "bfloat16"
VARIANTS = {
    "small": {"batch_size": 2, "n_heads": 3, "seq_len": 65, "head_dim": 32},
    "odd": {"batch_size": 3, "n_heads": 5, "seq_len": 1021, "head_dim": 60},
    "batch": {"batch_size": 2},
}

batch_size = 8
n_heads = 16
seq_len = 4096
head_dim = 128


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def get_inputs():
    shape = (batch_size, n_heads, seq_len, head_dim)
    return [torch.randn(shape) * 1.5, torch.randn(shape) * 1.5, torch.randn(shape)]


def get_init_inputs():
    return []
