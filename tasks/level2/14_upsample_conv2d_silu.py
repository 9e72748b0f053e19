"""Nearest-neighbour 2x upsampling followed by a 3x3 Conv2d with bias and SiLU (decoder stage)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "in_channels": 8, "out_channels": 12, "height": 11, "width": 9},
    "odd": {"batch_size": 3, "in_channels": 37, "out_channels": 29, "height": 31, "width": 45},
    "batch": {"batch_size": 4},
}

batch_size = 16
in_channels = 128
out_channels = 64
height = 64
width = 64


class Model(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.silu(self.conv(x))


def get_inputs():
    return [torch.randn(batch_size, in_channels, height, width) * 1.5]


def get_init_inputs():
    return [in_channels, out_channels]
