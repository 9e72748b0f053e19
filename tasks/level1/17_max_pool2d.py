"""2D max pooling with a 3x3 window, stride 2 and padding 1 on an NCHW tensor."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 2, "channels": 16, "height": 33, "width": 27},
    "odd": {"batch_size": 5, "channels": 67, "height": 113, "width": 151},
    "batch": {"batch_size": 4},
}

batch_size = 64
channels = 128
height = 224
width = 224


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


def get_inputs():
    return [torch.randn(batch_size, channels, height, width)]


def get_init_inputs():
    return []
