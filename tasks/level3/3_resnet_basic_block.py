"""ResNet basic block with stride-2 downsampling: conv-BN-ReLU-conv-BN plus a 1x1 conv-BN projection shortcut, then ReLU."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "in_channels": 8, "out_channels": 16, "height": 17, "width": 15},
    "odd": {"batch_size": 3, "in_channels": 29, "out_channels": 45, "height": 57, "width": 43},
    "batch": {"batch_size": 8},
}

batch_size = 32
in_channels = 128
out_channels = 256
height = 56
width = 56


def _batchnorm(channels: int) -> nn.BatchNorm2d:
    # The harness calls .eval(): BatchNorm uses these (non-trivial) running statistics.
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.running_mean.copy_(torch.linspace(-0.2, 0.2, channels))
        bn.running_var.copy_(torch.linspace(0.3, 0.8, channels))
        bn.weight.copy_(torch.linspace(0.7, 1.3, channels))
        bn.bias.copy_(torch.linspace(-0.1, 0.15, channels))
    return bn


class Model(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.bn1 = _batchnorm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = _batchnorm(out_channels)
        self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _batchnorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut_bn(self.shortcut_conv(x)))


def get_inputs():
    return [torch.randn(batch_size, in_channels, height, width)]


def get_init_inputs():
    return [in_channels, out_channels]
