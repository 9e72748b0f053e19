"""Token embedding lookup (int64 ids) plus learned position embedding, followed by LayerNorm."""

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"batch_size": 3, "seq_len": 17, "vocab": 1000, "d_model": 48},
    "odd": {"batch_size": 5, "seq_len": 509, "vocab": 50257, "d_model": 771},
    "batch": {"batch_size": 16},
}

batch_size = 256
seq_len = 1024
vocab = 32000
d_model = 1024


class Model(nn.Module):
    def __init__(self, vocab: int, seq_len: int, d_model: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        with torch.no_grad():
            self.pos.weight.mul_(0.5)
        self.norm = nn.LayerNorm(d_model)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.2 * torch.randn(d_model))
            self.norm.bias.copy_(0.2 * torch.randn(d_model))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.norm(self.tok(ids) + self.pos(positions))


def get_inputs():
    return [torch.randint(0, vocab, (batch_size, seq_len), dtype=torch.int64)]


def get_init_inputs():
    return [vocab, seq_len, d_model]
