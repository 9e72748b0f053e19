"""Multi-head causal self-attention written out: QKV projection, masked scaled scores, softmax, weighted sum, output projection."""

import math

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "seq_len": 23, "n_heads": 3, "head_dim": 16},
    "odd": {"batch_size": 3, "seq_len": 333, "n_heads": 5, "head_dim": 52},
    "batch": {"batch_size": 2},
}

batch_size = 8
seq_len = 1021
n_heads = 12
head_dim = 64


class Model(nn.Module):
    def __init__(self, seq_len: int, n_heads: int, head_dim: int):
        super().__init__()
        d_model = n_heads * head_dim
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.o_proj = nn.Linear(d_model, d_model)
        mask = torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal_mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q = self.q_proj(x).view(b, s, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.n_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.n_heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(self.causal_mask[:s, :s], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, d)
        return self.o_proj(ctx)


def get_inputs():
    return [torch.randn(batch_size, seq_len, n_heads * head_dim) * 1.5]


def get_init_inputs():
    return [seq_len, n_heads, head_dim]
