"""RMSNorm (x * rsqrt(mean(x^2) + eps) * weight) over the last dimension of a (batch, seq, dim) tensor."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 3, "seq_len": 31, "dim": 256},
    "odd": {"batch_size": 5, "seq_len": 777, "dim": 2999},
    "batch": {"batch_size": 2},
}

batch_size = 16
seq_len = 8192
dim = 2048


class Model(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inv_rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return x * inv_rms * self.weight


def get_inputs():
    return [torch.randn(batch_size, seq_len, dim) * 1.7]


def get_init_inputs():
    return [dim]
