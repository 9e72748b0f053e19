"""Attention probabilities softmax(Q @ K^T / sqrt(head_dim)) for (batch, heads, seq, head_dim) queries and keys."""

import math

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "n_heads": 3, "seq_len": 67, "head_dim": 16},
    "odd": {"batch_size": 3, "n_heads": 5, "seq_len": 1021, "head_dim": 37},
    "batch": {"batch_size": 2},
}

batch_size = 8
n_heads = 16
seq_len = 2048
head_dim = 64


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1)


def get_inputs():
    q = torch.randn(batch_size, n_heads, seq_len, head_dim) * 1.4
    k = torch.randn(batch_size, n_heads, seq_len, head_dim) * 1.4
    return [q, k]


def get_init_inputs():
    return []
