"""Row-wise KL divergence sum_j p_ij * (log p_ij - log q_ij) between two row-stochastic matrices."""

import torch
import torch.nn as nn

DTYPE = "float32"
INPUT_DOMAIN = "probability"
VARIANTS = {
    "small": {"rows": 33, "cols": 509},
    "odd": {"rows": 1021, "cols": 12289},
    "batch": {"rows": 1024},
}

rows = 8192
cols = 16384


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return torch.sum(p * (torch.log(p) - torch.log(q)), dim=-1)


def _row_distribution():
    # Per-row temperatures make the divergences differ substantially between rows.
    temperature = 0.5 + 2.5 * torch.rand(rows, 1)
    return torch.softmax(torch.randn(rows, cols) * temperature, dim=-1)


def get_inputs():
    return [_row_distribution(), _row_distribution()]


def get_init_inputs():
    return []
