"""Post-norm sublayer output: LayerNorm(residual + Linear(x)) over the model dimension."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "seq_len": 23, "d_model": 128},
    "odd": {"batch_size": 3, "seq_len": 509, "d_model": 1001},
    "batch": {"batch_size": 4},
}

batch_size = 16
seq_len = 1024
d_model = 2048


class Model(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model, bias=True)
        self.norm = nn.LayerNorm(d_model)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.2 * torch.randn(d_model))
            self.norm.bias.copy_(0.2 * torch.randn(d_model))

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.norm(residual + self.proj(x))


def get_inputs():
    x = torch.randn(batch_size, seq_len, d_model) * 2.0
    residual = torch.randn(batch_size, seq_len, d_model)
    return [x, residual]


def get_init_inputs():
    return [d_model]
