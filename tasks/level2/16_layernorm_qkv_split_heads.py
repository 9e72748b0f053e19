"""LayerNorm, fused QKV projection, and reshape into a (3, batch, heads, seq, head_dim) tensor."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "seq_len": 19, "n_heads": 3, "head_dim": 16},
    "odd": {"batch_size": 3, "seq_len": 509, "n_heads": 7, "head_dim": 44},
    "batch": {"batch_size": 2},
}

batch_size = 8
seq_len = 1024
n_heads = 16
head_dim = 64


class Model(nn.Module):
    def __init__(self, n_heads: int, head_dim: int):
        super().__init__()
        d_model = n_heads * head_dim
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.norm = nn.LayerNorm(d_model)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.2 * torch.randn(d_model))
            self.norm.bias.copy_(0.2 * torch.randn(d_model))
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        qkv = self.qkv(self.norm(x))
        qkv = qkv.view(b, s, 3, self.n_heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4).contiguous()


def get_inputs():
    return [torch.randn(batch_size, seq_len, n_heads * head_dim) * 1.5 + 0.2]


def get_init_inputs():
    return [n_heads, head_dim]
