"""Row-wise softmax over the last dimension of a (batch, features) matrix."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 16, "features": 509},
    "odd": {"batch_size": 1023, "features": 4093},
    "batch": {"batch_size": 96},
}

batch_size = 16384
features = 16384


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


def get_inputs():
    return [torch.randn(batch_size, features) * 3.0]


def get_init_inputs():
    return []
