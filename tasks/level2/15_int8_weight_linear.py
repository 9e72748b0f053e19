"""Weight-only int8 linear layer: dequantize int8 weights with per-row scales, then x @ W^T + bias in float16."""

import torch
import torch.nn as nn

DTYPE = "float16"
VARIANTS = {
    "small": {"tokens": 29, "in_features": 128, "out_features": 96},
    "odd": {"tokens": 1001, "in_features": 2041, "out_features": 3001},
    "batch": {"tokens": 512},
}

tokens = 8192
in_features = 8192
out_features = 8192


class Model(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        qweight = torch.randint(-127, 128, (out_features, in_features), dtype=torch.int8)
        self.register_buffer("qweight", qweight)
        # Per-output-channel scales, sized so that outputs have std of order 1.
        scale = (1.0 + torch.rand(out_features)) / (73.0 * in_features ** 0.5)
        self.register_buffer("scale", scale)
        self.bias = nn.Parameter(0.2 * torch.randn(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.qweight.to(x.dtype) * self.scale.unsqueeze(1)
        return torch.matmul(x, weight.t()) + self.bias


def get_inputs():
    return [torch.randn(tokens, in_features)]


def get_init_inputs():
    return [in_features, out_features]
