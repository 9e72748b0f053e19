"""ConvNeXt block: 7x7 depthwise conv, channel LayerNorm, 4x pointwise MLP with GELU, layer scale, and residual."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "channels": 16, "height": 13, "width": 11},
    "odd": {"batch_size": 3, "channels": 45, "height": 31, "width": 37},
    "batch": {"batch_size": 8},
}

batch_size = 32
channels = 192
height = 56
width = 56


class Model(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.2 * torch.randn(channels))
            self.norm.bias.copy_(0.2 * torch.randn(channels))
        self.pw1 = nn.Linear(channels, 4 * channels)
        self.pw2 = nn.Linear(4 * channels, channels)
        # Layer scale, given O(1) values so the branch is not negligible.
        self.gamma = nn.Parameter(1.0 + 0.3 * torch.randn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).permute(0, 2, 3, 1)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).permute(0, 3, 1, 2)


def get_inputs():
    return [torch.randn(batch_size, channels, height, width)]


def get_init_inputs():
    return [channels]
