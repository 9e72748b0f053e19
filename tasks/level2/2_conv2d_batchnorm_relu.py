"""3x3 Conv2d (no bias) followed by inference-mode BatchNorm2d and ReLU."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "in_channels": 8, "out_channels": 16, "height": 21, "width": 19},
    "odd": {"batch_size": 3, "in_channels": 29, "out_channels": 61, "height": 57, "width": 71},
    "batch": {"batch_size": 8},
}

batch_size = 32
in_channels = 64
out_channels = 128
height = 112
width = 112


class Model(nn.Module):
    # The harness calls .eval(): BatchNorm uses the running statistics set below.
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        with torch.no_grad():
            self.bn.running_mean.copy_(torch.linspace(-0.3, 0.3, out_channels))
            self.bn.running_var.copy_(torch.linspace(0.2, 0.6, out_channels))
            self.bn.weight.copy_(torch.linspace(0.6, 1.4, out_channels))
            self.bn.bias.copy_(torch.linspace(-0.2, 0.25, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


def get_inputs():
    return [torch.randn(batch_size, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
