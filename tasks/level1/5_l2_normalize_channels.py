"""L2-normalize a (batch, channels, height, width) tensor across the channel dimension."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "channels": 65, "height": 17, "width": 23},
    "odd": {"batch_size": 7, "channels": 77, "height": 131, "width": 97},
    "batch": {"batch_size": 5},
}

batch_size = 32
channels = 512
height = 128
width = 128


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2.0, dim=1, eps=1e-12)


def get_inputs():
    return [torch.randn(batch_size, channels, height, width) + 0.3]


def get_init_inputs():
    return []
