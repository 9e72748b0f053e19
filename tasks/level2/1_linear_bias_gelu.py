"""Linear layer with bias followed by tanh-approximated GELU."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 37, "in_features": 128, "out_features": 96},
    "odd": {"batch_size": 1023, "in_features": 1021, "out_features": 3001},
    "batch": {"batch_size": 512},
}

batch_size = 8192
in_features = 2048
out_features = 8192


class Model(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=True)
        with torch.no_grad():
            self.fc.bias.copy_(0.5 * torch.randn(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc(x), approximate="tanh")


def get_inputs():
    return [torch.randn(batch_size, in_features) * 1.5]


def get_init_inputs():
    return [in_features, out_features]
