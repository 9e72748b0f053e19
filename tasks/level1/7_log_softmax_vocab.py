"""Log-softmax over a large, odd-sized vocabulary dimension of a (tokens, vocab) logit matrix."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"tokens": 13, "vocab": 2053},
    "odd": {"tokens": 333, "vocab": 32003},
    "batch": {"tokens": 512},
}

tokens = 4093
vocab = 50257


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits, dim=-1)


def get_inputs():
    return [torch.randn(tokens, vocab) * 2.5 + 1.0]


def get_init_inputs():
    return []
