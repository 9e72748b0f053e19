"""Depthwise 2D convolution (groups = channels) with a 5x5 kernel, padding 2 and bias."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "channels": 24, "height": 21, "width": 17},
    "odd": {"batch_size": 5, "channels": 45, "height": 57, "width": 83},
    "batch": {"batch_size": 6},
}

batch_size = 32
channels = 384
height = 112
width = 112


class Model(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=5, padding=2, groups=channels, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch_size, channels, height, width)]


def get_init_inputs():
    return [channels]
