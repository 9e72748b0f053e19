"""Single-layer GRU unrolled over the sequence with explicit matmuls (odd sizes), returning all hidden states."""

import math

import torch
import torch.nn as nn

DTYPE = "float32"
VARIANTS = {
    "small": {"seq_len": 5, "batch_size": 3, "input_size": 24, "hidden_size": 20},
    "odd": {"seq_len": 9, "batch_size": 45, "input_size": 333, "hidden_size": 771},
    "batch": {"batch_size": 61},
}

seq_len = 25
batch_size = 257
input_size = 509
hidden_size = 1021


class Model(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        bound = 1.0 / math.sqrt(hidden_size)
        self.w_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size).uniform_(-bound, bound))
        self.w_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_ih = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-bound, bound))
        self.b_hh = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        # x: (seq, batch, input); gate order r, z, n (as in torch.nn.GRU).
        x_gates = torch.matmul(x, self.w_ih.t()) + self.b_ih
        h = h0
        outputs = []
        for t in range(x.shape[0]):
            h_gates = torch.matmul(h, self.w_hh.t()) + self.b_hh
            x_r, x_z, x_n = x_gates[t].chunk(3, dim=-1)
            h_r, h_z, h_n = h_gates.chunk(3, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
            h = (1.0 - z) * n + z * h
            outputs.append(h)
        return torch.stack(outputs, dim=0)


def get_inputs():
    x = torch.randn(seq_len, batch_size, input_size)
    h0 = torch.randn(batch_size, hidden_size) * 0.5
    return [x, h0]


def get_init_inputs():
    return [input_size, hidden_size]
