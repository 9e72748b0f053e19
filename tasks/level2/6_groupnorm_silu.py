"""GroupNorm with affine parameters followed by SiLU on an NCHW feature map."""

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "num_groups": 4, "channels_per_group": 6, "height": 15, "width": 13},
    "odd": {"batch_size": 3, "num_groups": 7, "channels_per_group": 5, "height": 33, "width": 47},
    "batch": {"batch_size": 4},
}

batch_size = 32
num_groups = 32
channels_per_group = 16
height = 128
width = 128


class Model(nn.Module):
    def __init__(self, num_groups: int, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(num_groups, channels, eps=1e-5, affine=True)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.3 * torch.randn(channels))
            self.norm.bias.copy_(0.3 * torch.randn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(x))


def get_inputs():
    channels = num_groups * channels_per_group
    return [torch.randn(batch_size, channels, height, width) * 2.0 + 0.5]


def get_init_inputs():
    return [num_groups, num_groups * channels_per_group]
