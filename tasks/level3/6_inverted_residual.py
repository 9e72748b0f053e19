"""MobileNetV2 inverted residual block: 1x1 expand-BN-ReLU6, 3x3 depthwise-BN-ReLU6, 1x1 project-BN, plus identity skip."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "channels": 8, "expand_ratio": 6, "height": 15, "width": 17},
    "odd": {"batch_size": 3, "channels": 21, "expand_ratio": 5, "height": 37, "width": 29},
    "batch": {"batch_size": 16},
}

batch_size = 128
channels = 48
expand_ratio = 6
height = 56
width = 56


def _batchnorm(channels: int) -> nn.BatchNorm2d:
    # The harness calls .eval(): BatchNorm uses these (non-trivial) running statistics.
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.running_mean.copy_(torch.linspace(-0.2, 0.2, channels))
        bn.running_var.copy_(torch.linspace(0.1, 0.5, channels))
        bn.weight.copy_(torch.linspace(0.8, 1.2, channels))
        bn.bias.copy_(torch.linspace(-0.1, 0.2, channels))
    return bn


class Model(nn.Module):
    def __init__(self, channels: int, expand_ratio: int):
        super().__init__()
        hidden = channels * expand_ratio
        self.expand = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1 = _batchnorm(hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False)
        self.bn2 = _batchnorm(hidden)
        self.project = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn3 = _batchnorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.clamp(self.bn1(self.expand(x)), 0.0, 6.0)
        h = torch.clamp(self.bn2(self.depthwise(h)), 0.0, 6.0)
        return x + self.bn3(self.project(h))


def get_inputs():
    return [torch.randn(batch_size, channels, height, width)]


def get_init_inputs():
    return [channels, expand_ratio]
