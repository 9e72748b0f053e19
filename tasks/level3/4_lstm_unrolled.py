"""Single-layer LSTM unrolled over the sequence with explicit matmuls, returning all hidden states (seq, batch, hidden)."""

import math

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"seq_len": 5, "batch_size": 3, "input_size": 24, "hidden_size": 20},
    "odd": {"seq_len": 7, "batch_size": 33, "input_size": 509, "hidden_size": 771},
    "batch": {"batch_size": 64},
}

seq_len = 32
batch_size = 256
input_size = 1024
hidden_size = 1024


class Model(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        bound = 1.0 / math.sqrt(hidden_size)
        self.w_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.w_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
        # x: (seq, batch, input); gate order i, f, g, o.
        x_gates = torch.matmul(x, self.w_ih.t()) + self.bias
        h, c = h0, c0
        outputs = []
        for t in range(x.shape[0]):
            gates = x_gates[t] + torch.matmul(h, self.w_hh.t())
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=0)


def get_inputs():
    x = torch.randn(seq_len, batch_size, input_size)
    h0 = torch.randn(batch_size, hidden_size) * 0.5
    c0 = torch.randn(batch_size, hidden_size) * 0.5
    return [x, h0, c0]


def get_init_inputs():
    return [input_size, hidden_size]
