"""Pre-norm decoder transformer block: causal multi-head self-attention and GELU MLP, each with a residual."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "seq_len": 19, "n_heads": 4, "head_dim": 16},
    "odd": {"batch_size": 3, "seq_len": 509, "n_heads": 7, "head_dim": 37},
    "batch": {"batch_size": 2},
}

batch_size = 8
seq_len = 1024
n_heads = 16
head_dim = 64


class Model(nn.Module):
    def __init__(self, n_heads: int, head_dim: int, mlp_ratio: int = 4):
        super().__init__()
        d_model = n_heads * head_dim
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, mlp_ratio * d_model)
        self.fc2 = nn.Linear(mlp_ratio * d_model, d_model)
        with torch.no_grad():
            for norm in (self.norm1, self.norm2):
                norm.weight.copy_(1.0 + 0.2 * torch.randn(d_model))
                norm.bias.copy_(0.2 * torch.randn(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, s, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(attn.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


def get_inputs():
    return [torch.randn(batch_size, seq_len, n_heads * head_dim)]


def get_init_inputs():
    return [n_heads, head_dim]
