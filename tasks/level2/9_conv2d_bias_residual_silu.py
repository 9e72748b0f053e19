"""3x3 Conv2d with bias, plus the block input as residual, followed by SiLU."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "channels": 12, "height": 23, "width": 17},
    "odd": {"batch_size": 3, "channels": 45, "height": 61, "width": 53},
    "batch": {"batch_size": 4},
}

batch_size = 16
channels = 128
height = 96
width = 96


class Model(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=True)
        with torch.no_grad():
            self.conv.bias.copy_(0.3 * torch.randn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.conv(x) + x)


def get_inputs():
    return [torch.randn(batch_size, channels, height, width)]


def get_init_inputs():
    return [channels]
