"""Comparing candidate outputs with the float64 reference: scale-aware, calibrated, with evidence."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel

from ..tasks.models import Tolerance
from .policy import TolerancePolicy

Reason = Literal["count", "type", "shape", "dtype", "nonfinite", "elementwise", "frobenius", "integer", "input_mutation",
                 "aliasing", "out_of_bounds"]


class Mismatch(BaseModel):
    """Why one output is wrong, written for the Coder to act on."""

    output: int
    reason: Reason
    detail: str
    numel: int | None = None
    mismatches: int | None = None
    first_mismatch: list[int] | None = None
    max_abs_error: float | None = None
    max_error_at: list[int] | None = None
    reference_value: float | None = None
    candidate_value: float | None = None
    frobenius_error: float | None = None
    frobenius_bound: float | None = None


class Bounds(BaseModel):
    atol: float
    rtol: float
    scale: float
    frobenius: float


def compare_outputs(
    candidate: list[torch.Tensor | None], expected: list[torch.Tensor], eager: list[torch.Tensor],
    dtype: str, policy: TolerancePolicy, override: Tolerance | None = None,
) -> list[Mismatch]:
    if len(candidate) != len(expected):
        return [Mismatch(output=0, reason="count", detail=f"returned {len(candidate)} outputs, expected {len(expected)}")]
    problems = []
    for index, (got, want, ref_eager) in enumerate(zip(candidate, expected, eager)):
        problem = compare_one(index, got, want, ref_eager, dtype, policy, override)
        if problem is not None:
            problems.append(problem)
    return problems


def compare_one(
    index: int, got: torch.Tensor | None, want: torch.Tensor, eager: torch.Tensor, dtype: str,
    policy: TolerancePolicy, override: Tolerance | None = None,
) -> Mismatch | None:
    if got is None or type(got) is not torch.Tensor:
        return Mismatch(output=index, reason="type", detail="output is not a plain torch.Tensor")
    if tuple(got.shape) != tuple(eager.shape):
        return Mismatch(output=index, reason="shape", detail=f"shape {list(got.shape)}, expected {list(eager.shape)}")
    if got.dtype != eager.dtype:
        return Mismatch(output=index, reason="dtype", detail=f"dtype {_name(got.dtype)}, expected {_name(eager.dtype)}")
    if not eager.is_floating_point():
        wrong = got != eager
        if wrong.any():
            return Mismatch(output=index, reason="integer", detail=f"{int(wrong.sum())} of {got.numel()} values differ",
                            numel=got.numel(), mismatches=int(wrong.sum()), first_mismatch=_first(wrong))
        return None
    return _compare_float(index, got.double(), want.double(), eager.double(), dtype, policy, override)


def bounds_for(want: torch.Tensor, eager: torch.Tensor, dtype: str, policy: TolerancePolicy,
               override: Tolerance | None = None) -> Bounds:
    """Per-dtype bounds, widened when the task's own eager computation is less precise than they allow."""
    base = policy.bounds(dtype)
    finite = torch.isfinite(want)
    rms = float(want[finite].pow(2).mean().sqrt()) if finite.any() else 0.0
    atol, rtol, frobenius = base.atol_scale * rms, base.rtol, base.frobenius
    if override is not None:
        atol = max(atol, override.atol or 0.0)
        rtol = max(rtol, override.rtol or 0.0)
        frobenius = max(frobenius, override.rtol or 0.0, override.atol / rms if override.atol and rms else 0.0)
    eager_err = (eager - want)[finite].abs()
    allowed = atol + rtol * want[finite].abs()
    ratio = float((eager_err / allowed.clamp_min(1e-300)).max()) if eager_err.numel() else 0.0
    eager_frob = _frobenius(eager[finite], want[finite])
    return Bounds(atol=atol, rtol=rtol, scale=max(1.0, 2.0 * ratio),
                  frobenius=max(frobenius, policy.eager_factor * eager_frob))


def _compare_float(index: int, got: torch.Tensor, want: torch.Tensor, eager: torch.Tensor, dtype: str,
                   policy: TolerancePolicy, override: Tolerance | None) -> Mismatch | None:
    numel = want.numel()
    ref_finite = torch.isfinite(want)
    bad_nonfinite = ref_finite & ~torch.isfinite(got)
    special_mismatch = ~ref_finite & ~((got == want) | (torch.isnan(got) & torch.isnan(want)))
    if bad_nonfinite.any() or special_mismatch.any():
        wrong = bad_nonfinite | special_mismatch
        return Mismatch(
            output=index, reason="nonfinite", numel=numel, mismatches=int(wrong.sum()), first_mismatch=_first(wrong),
            detail=f"{int(bad_nonfinite.sum())} NaN/Inf values where the reference is finite"
                   + (" (all NaN: was the output ever written?)" if bool(torch.isnan(got).all())
                      else " (overflow, or a read past an input's ends, where the harness keeps NaN?)")
                   + (f"; {int(special_mismatch.sum())} NaN/Inf of the reference not reproduced" if special_mismatch.any() else ""),
        )
    bounds = bounds_for(want, eager, dtype, policy, override)
    error = (got - want).abs().masked_fill(~ref_finite, 0.0)
    allowed = bounds.scale * (bounds.atol + bounds.rtol * want.abs())
    wrong = error > allowed
    frob = _frobenius(got[ref_finite], want[ref_finite])
    if not wrong.any() and frob <= bounds.frobenius:
        return None
    flat_max = int(error.reshape(-1).argmax())
    where = _unravel(flat_max, want.shape)
    evidence = dict(
        output=index, numel=numel, mismatches=int(wrong.sum()), first_mismatch=_first(wrong) if wrong.any() else None,
        max_abs_error=float(error.reshape(-1)[flat_max]), max_error_at=where,
        reference_value=float(want.reshape(-1)[flat_max]), candidate_value=float(got.reshape(-1)[flat_max]),
        frobenius_error=frob, frobenius_bound=bounds.frobenius,
    )
    if wrong.any():
        detail = (f"{int(wrong.sum())} of {numel} values outside |err| <= {bounds.scale:.3g}*({bounds.atol:.3g} + "
                  f"{bounds.rtol:.3g}*|ref|); largest error {evidence['max_abs_error']:.4g} at {where}")
        return Mismatch(reason="elementwise", detail=detail, **evidence)  # type: ignore[arg-type]
    detail = f"relative Frobenius error {frob:.3g} exceeds {bounds.frobenius:.3g} (precision too low for {dtype}?)"
    return Mismatch(reason="frobenius", detail=detail, **evidence)  # type: ignore[arg-type]


def _frobenius(got: torch.Tensor, want: torch.Tensor) -> float:
    norm = float(torch.linalg.vector_norm(want))
    diff = float(torch.linalg.vector_norm(got - want))
    return diff / norm if norm > 0 else diff


def _first(mask: torch.Tensor) -> list[int]:
    flat = int(mask.reshape(-1).nonzero()[0, 0])
    return _unravel(flat, mask.shape)


def _unravel(flat: int, shape: torch.Size) -> list[int]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return list(reversed(index))


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
