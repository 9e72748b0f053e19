"""Harness-owned input distributions: float inputs are re-drawn, never taken from the task's get_inputs()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

Distribution = Literal["normal", "uniform", "large", "tiny_zeros", "heavy_tail"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("normal", "uniform", "large", "tiny_zeros", "heavy_tail")


def draw(shape: torch.Size, distribution: Distribution, generator: torch.Generator) -> torch.Tensor:
    """A float64 tensor of the given distribution (signed, varied values), on the generator's device."""
    if distribution == "normal":
        return torch.randn(shape, generator=generator, dtype=torch.float64, device=generator.device)
    if distribution == "uniform":
        return torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1
    if distribution == "large":
        return torch.randn(shape, generator=generator, dtype=torch.float64) * 100
    if distribution == "tiny_zeros":
        values = torch.randn(shape, generator=generator, dtype=torch.float64) * 1e-3
        zeros = torch.rand(shape, generator=generator, dtype=torch.float64) < 0.25
        return values.masked_fill(zeros, 0.0)
    if distribution == "heavy_tail":
        # Student-t with 2 degrees of freedom: mostly moderate values with rare large ones.
        normal = torch.randn(shape, generator=generator, dtype=torch.float64)
        chi2 = torch.randn((2, *shape), generator=generator, dtype=torch.float64).pow(2).sum(0)
        return (normal / torch.sqrt(chi2 / 2).clamp_min(1e-3)).clamp(-1e4, 1e4)
    raise ValueError(f"unknown distribution {distribution}")


def redraw(values: list[Any], distribution: Distribution, generator: torch.Generator,
           domain_of: Callable[[int], str], dtype: torch.dtype) -> list[Any]:
    """The task's inputs with every float tensor replaced by a fresh draw of the same shape, mapped into its
    declared domain and cast to the task dtype; integer tensors and other values are kept."""
    fresh = []
    for index, value in enumerate(values):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            drawn = apply_domain(draw(value.shape, distribution, generator), domain_of(index))
            value = drawn.to(device=value.device, dtype=dtype)
        fresh.append(value)
    return fresh


def seeded_draws(template: list[Any], seed: int, generator: torch.Generator,
                 domain_of: Callable[[int], str]) -> dict[int, torch.Tensor]:
    """A timed call's inputs: for each float tensor of `template` (by position), a float64 normal draw from `seed`
    on the generator's device, mapped into its domain. The timing worker casts them into its working buffers; the
    trusted side redraws a checked call's from the same seed on the same device, so the values are the same."""
    generator.manual_seed(seed)
    return {index: apply_domain(draw(value.shape, "normal", generator), domain_of(index))
            for index, value in enumerate(template) if isinstance(value, torch.Tensor) and value.is_floating_point()}


def apply_domain(values: torch.Tensor, domain: str) -> torch.Tensor:
    """Maps drawn values into a task's declared input domain, keeping their spread."""
    if domain == "real":
        return values
    if domain == "positive":
        return values.abs() + 1e-3
    if domain == "nonnegative":
        return values.abs()
    if domain == "unit":
        return torch.tanh(values / (values.abs().max().clamp_min(1e-12))) * 0.999
    if domain == "probability":
        return torch.softmax(values.clamp(-30, 30), dim=-1)
    raise ValueError(f"unknown input domain {domain}")
