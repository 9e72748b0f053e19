"""Dilated 1D convolution (kernel 7, dilation 2, length-preserving padding) with odd channel counts and length."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "in_channels": 13, "out_channels": 21, "length": 301},
    "odd": {"batch_size": 7, "in_channels": 45, "out_channels": 99, "length": 5003},
    "batch": {"batch_size": 4},
}

batch_size = 32
in_channels = 93
out_channels = 157
length = 16381


class Model(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=7, dilation=2, padding=6, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def get_inputs():
    return [torch.randn(batch_size, in_channels, length)]


def get_init_inputs():
    return [in_channels, out_channels]
