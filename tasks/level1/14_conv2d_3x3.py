"""2D convolution with a 3x3 kernel, stride 1, padding 1 and bias on an NCHW tensor."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "in_channels": 8, "out_channels": 12, "height": 19, "width": 25},
    "odd": {"batch_size": 3, "in_channels": 37, "out_channels": 53, "height": 61, "width": 45},
    "batch": {"batch_size": 8},
}

batch_size = 32
in_channels = 64
out_channels = 128
height = 128
width = 128


class Model(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch_size, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
