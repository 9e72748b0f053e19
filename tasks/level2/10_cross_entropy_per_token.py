"""Per-token cross-entropy loss: -log_softmax(logits)[label], gathered with int64 labels."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"tokens": 61, "vocab": 1000},
    "odd": {"tokens": 1021, "vocab": 50257},
    "batch": {"tokens": 2048},
}

tokens = 16384
vocab = 32000


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits, dim=-1)
        return -log_probs.gather(1, labels.unsqueeze(1)).squeeze(1)


def get_inputs():
    logits = torch.randn(tokens, vocab) * 2.0
    labels = torch.randint(0, vocab, (tokens,), dtype=torch.int64)
    return [logits, labels]


def get_init_inputs():
    return []
