"""Harness-owned input distributions: float inputs are re-drawn from secret seeds, and the task's own get_inputs()
distribution (at a secret seed) is one trial among them.

Centred ones (normal, uniform, large, tiny_zeros, heavy_tail) and shifted ones: a common offset far from zero
(`offset`, mean 100 and std 1: E[x^2] - E[x]^2 in float32 is far off there), per-row and per-channel scale and
offset (`rows`, `channels`), the task's own inputs (`task`), and `specials`: normal values with a few +inf, -inf and
NaN elements (where the input's domain admits them), compared only where the reference defines its outputs on them
(kernelwright.verify.reference_worker).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

Distribution = Literal["normal", "uniform", "large", "offset", "rows", "channels", "task", "specials", "tiny_zeros",
                       "heavy_tail"]
# In the order the plan keeps them: over the file budget, a heavy shape loses the last ones first.
DISTRIBUTIONS: tuple[Distribution, ...] = ("normal", "uniform", "offset", "large", "rows", "specials", "task",
                                           "channels", "tiny_zeros", "heavy_tail")
# Timed calls draw from these, one picked by each call's seed: finite, and shifted as often as not.
TIMED: tuple[Distribution, ...] = ("normal", "offset", "rows", "channels")
# A few of each per tensor in `specials`: most rows (and so most outputs of row-wise work) stay finite.
SPECIALS_EACH = 2
# Per-row / per-channel scales are log-uniform in [1/SPREAD, SPREAD]; offsets uniform in [-OFFSET, OFFSET].
SPREAD, OFFSET = 10.0, 100.0

TEXT: dict[str, str] = {
    "normal": "standard normal N(0, 1)",
    "uniform": "uniform on [-1, 1)",
    "large": "normal scaled by 100",
    "offset": "normal with a common offset: mean 100, std 1",
    "rows": "normal, each row (slice along the last dimension) scaled by 10^U(-1, 1) and shifted by U(-100, 100)",
    "channels": "normal, each channel (index of dimension 1) scaled by 10^U(-1, 1) and shifted by U(-100, 100)",
    "task": "the task's own get_inputs() at a secret seed, cast to its dtype (not redrawn)",
    "specials": "normal with a few +inf, -inf and NaN elements per tensor (as the input domain admits); outputs "
                "compared (NaN equal to NaN) where the float64 reference is the same with inf replaced by a huge "
                "finite value, and the trial kept where the task's eager output agrees there",
    "tiny_zeros": "normal scaled by 1e-3, a quarter of the elements set to exactly 0",
    "heavy_tail": "Student-t with 2 degrees of freedom, clamped to ±1e4",
}


def draw(shape: torch.Size, distribution: Distribution, generator: torch.Generator) -> torch.Tensor:
    """A float64 tensor of the given distribution (signed, varied values), on the generator's device. `task` and
    `specials` are drawn as normal here (see `redraw`)."""
    device = generator.device

    def normal(size: tuple[int, ...] | torch.Size = shape) -> torch.Tensor:
        return torch.randn(size, generator=generator, dtype=torch.float64, device=device)

    def uniform(size: tuple[int, ...] | torch.Size = shape) -> torch.Tensor:
        return torch.rand(size, generator=generator, dtype=torch.float64, device=device)

    if distribution in ("normal", "task", "specials"):
        return normal()
    if distribution == "uniform":
        return uniform() * 2 - 1
    if distribution == "large":
        return normal() * 100
    if distribution == "offset":
        return normal() + 100
    if distribution in ("rows", "channels"):
        return _scaled(normal(), distribution, uniform)
    if distribution == "tiny_zeros":
        values = normal() * 1e-3
        return values.masked_fill(uniform() < 0.25, 0.0)
    if distribution == "heavy_tail":
        # Student-t with 2 degrees of freedom: mostly moderate values with rare large ones.
        chi2 = normal((2, *shape)).pow(2).sum(0)
        return (normal() / torch.sqrt(chi2 / 2).clamp_min(1e-3)).clamp(-1e4, 1e4)
    raise ValueError(f"unknown distribution {distribution}")


def _scaled(values: torch.Tensor, distribution: Distribution,
            uniform: Callable[[tuple[int, ...]], torch.Tensor]) -> torch.Tensor:
    """Values scaled and shifted per row (one factor per slice along the last dimension) or per channel (per index
    of dimension 1; a 1-D tensor has one row and one channel)."""
    if values.dim() == 0:
        size: tuple[int, ...] = ()
    elif distribution == "rows":
        size = (*values.shape[:-1], 1)
    else:
        size = tuple(n if d == min(1, values.dim() - 1) else 1 for d, n in enumerate(values.shape))
    scale = SPREAD ** (uniform(size) * 2 - 1)
    offset = (uniform(size) * 2 - 1) * OFFSET
    return values * scale + offset


def redraw(values: list[Any], distribution: Distribution, generator: torch.Generator,
           domain_of: Callable[[int], str], dtype: torch.dtype) -> list[Any]:
    """The task's inputs with every float tensor replaced by a fresh draw of the same shape, mapped into its
    declared domain and cast to the task dtype; integer tensors and other values are kept. `task` keeps the
    task's own values (only cast); `specials` adds a few inf / NaN elements after the domain mapping."""
    fresh = []
    for index, value in enumerate(values):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            if distribution == "task":
                drawn = value
            else:
                drawn = apply_domain(draw(value.shape, distribution, generator), domain_of(index))
                if distribution == "specials":
                    drawn = with_specials(drawn, domain_of(index), generator)
            value = drawn.to(device=value.device, dtype=dtype)
        fresh.append(value)
    return fresh


def with_specials(values: torch.Tensor, domain: str, generator: torch.Generator) -> torch.Tensor:
    """`values` with SPECIALS_EACH elements of each special value the domain admits (real: +inf, -inf, NaN;
    positive and nonnegative: +inf, NaN; unit: NaN; probability: none) at positions the generator picks."""
    kinds = {"real": (float("inf"), float("-inf"), float("nan")), "positive": (float("inf"), float("nan")),
             "nonnegative": (float("inf"), float("nan")), "unit": (float("nan"),)}.get(domain, ())
    if not kinds or values.numel() == 0:
        return values
    out = values.clone().reshape(-1)
    count = min(out.numel(), SPECIALS_EACH * len(kinds))
    places = torch.randperm(out.numel(), generator=generator, device=generator.device)[:count].to(out.device)
    for slot, place in enumerate(places.tolist()):
        out[place] = kinds[slot % len(kinds)]
    return out.reshape(values.shape)


def seeded_draws(template: list[Any], seed: int, generator: torch.Generator,
                 domain_of: Callable[[int], str]) -> dict[int, torch.Tensor]:
    """A timed call's inputs: for each float tensor of `template` (by position), a float64 draw from `seed` on the
    generator's device, of the TIMED distribution the seed picks, mapped into its domain. The timing worker casts
    them into its working buffers; the trusted side redraws a checked call's from the same seed on the same device,
    so the values are the same."""
    generator.manual_seed(seed)
    distribution = timed_distribution(seed)
    return {index: apply_domain(draw(value.shape, distribution, generator), domain_of(index))
            for index, value in enumerate(template) if isinstance(value, torch.Tensor) and value.is_floating_point()}


def timed_distribution(seed: int) -> Distribution:
    """The distribution of a timed call drawn from `seed`."""
    return TIMED[(seed >> 7) % len(TIMED)]


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
    if domain == "probability":  # shift-invariant: centred per row first, so an offset keeps the row's spread
        centred = values - values.amax(dim=-1, keepdim=True) if values.dim() else values
        return torch.softmax(centred.clamp(-30, 30), dim=-1)
    raise ValueError(f"unknown input domain {domain}")
