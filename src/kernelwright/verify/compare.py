"""Comparing candidate outputs with the float64 reference: scale-aware, calibrated, with evidence."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import torch
from pydantic import BaseModel

from ..tasks.models import Tolerance
from .policy import TolerancePolicy

Reason = Literal["count", "type", "shape", "dtype", "nonfinite", "elementwise", "frobenius", "integer", "input_mutation",
                 "aliasing", "out_of_bounds", "output_reused"]


CHUNK_CPU = 1 << 20
CHUNK_CUDA = 1 << 26


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


def comparison_device(task_device: str, lane: str | None = None) -> str | None:
    """The GPU of the verification's `lane` for a CUDA task when the orchestrator can reach one, else None (the
    CPU)."""
    if not task_device.startswith("cuda") or not torch.cuda.is_available():
        return None
    return f"cuda:{lane}" if lane is not None else task_device


def compare_outputs(
    candidate: list[torch.Tensor | None], expected: list[torch.Tensor], eager: list[torch.Tensor],
    dtype: str, policy: TolerancePolicy, override: Tolerance | None = None, device: str | None = None,
    undefined: list[torch.Tensor] | None = None,
) -> list[Mismatch]:
    """`device`: where to compute (a CUDA device makes a nominal-size comparison take a second, not a minute);
    the CPU where it is absent or too full. `undefined`: per output, elements the reference does not define (inputs
    with inf / NaN, see reference_worker); the candidate may give anything there."""
    if len(candidate) != len(expected):
        return [Mismatch(output=0, reason="count", detail=f"returned {len(candidate)} outputs, expected {len(expected)}")]
    problems = []
    for index, (got, want, ref_eager) in enumerate(zip(candidate, expected, eager)):
        mask = undefined[index] if undefined is not None and index < len(undefined) else None
        if mask is not None and type(got) is torch.Tensor and got.shape == mask.shape and bool(mask.any()):
            got = torch.where(mask.to(got.device), want.to(device=got.device, dtype=got.dtype), got)
        problem, done = None, False
        if device is not None and type(got) is torch.Tensor:
            try:
                problem = compare_one(index, got.to(device), want.to(device), ref_eager.to(device), dtype, policy,
                                      override)
                done = True
            except torch.OutOfMemoryError:
                device = None  # the rest on the CPU
            finally:
                if torch.cuda.is_initialized():
                    torch.cuda.empty_cache()  # the candidate's next worker needs the memory more than we do
        if not done:
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
    return _compare_float(index, got, want, eager, dtype, policy, override)


def _chunks(*tensors: torch.Tensor) -> Iterator[tuple[int, list[torch.Tensor]]]:
    """Flat slices of the same elements of each tensor, as float64: a nominal-size output (2**28 elements) is
    compared slice by slice, never through whole-tensor float64 temporaries or boolean-mask copies."""
    flat = [t.reshape(-1) for t in tensors]
    numel = flat[0].numel()
    step = CHUNK_CUDA if flat[0].is_cuda else CHUNK_CPU
    for offset in range(0, numel, step):
        yield offset, [f[offset:offset + step].double() for f in flat]


class _Stats:
    """What one streamed pass over (candidate, reference, eager) learns."""

    def __init__(self) -> None:
        self.finite = 0
        self.sum_sq = 0.0
        self.eager_diff_sq = 0.0
        self.got_diff_sq = 0.0
        self.bad_nonfinite = 0
        self.special_mismatch = 0
        self.all_nan = True
        self.first_nonfinite: int | None = None


def _first_pass(got: torch.Tensor, want: torch.Tensor, eager: torch.Tensor) -> _Stats:
    stats = _Stats()
    for offset, (g, w, e) in _chunks(got, want, eager):
        finite = torch.isfinite(w)
        bad = finite & ~torch.isfinite(g)
        special = ~finite & ~((g == w) | (torch.isnan(g) & torch.isnan(w)))
        wrong = bad | special
        if stats.first_nonfinite is None and bool(wrong.any()):
            stats.first_nonfinite = offset + int(wrong.nonzero()[0, 0])
        stats.bad_nonfinite += int(bad.sum())
        stats.special_mismatch += int(special.sum())
        stats.all_nan = stats.all_nan and bool(torch.isnan(g).all())
        zero = torch.zeros((), dtype=w.dtype, device=w.device)
        wf = torch.where(finite, w, zero)
        usable = finite & torch.isfinite(e)  # where the task's own eager result overflowed it says nothing of precision
        stats.finite += int(finite.sum())
        stats.sum_sq += float(wf.square().sum())
        stats.eager_diff_sq += float(torch.where(usable, e - w, zero).square().sum())
        stats.got_diff_sq += float(torch.where(finite, g - w, zero).square().sum())
    return stats


def _ratio(diff_sq: float, norm_sq: float) -> float:
    return math.sqrt(diff_sq / norm_sq) if norm_sq > 0 else math.sqrt(diff_sq)


def bounds_for(stats: _Stats, want: torch.Tensor, eager: torch.Tensor, dtype: str, policy: TolerancePolicy,
               override: Tolerance | None = None) -> Bounds:
    """Per-dtype bounds, widened when the task's own eager computation is less precise than they allow."""
    base = policy.bounds(dtype)
    rms = math.sqrt(stats.sum_sq / stats.finite) if stats.finite else 0.0
    atol, rtol, frobenius = base.atol_scale * rms, base.rtol, base.frobenius
    if override is not None:
        atol = max(atol, override.atol or 0.0)
        rtol = max(rtol, override.rtol or 0.0)
        frobenius = max(frobenius, override.rtol or 0.0, override.atol / rms if override.atol and rms else 0.0)
    ratio = 0.0
    for _, (w, e) in _chunks(want, eager):
        usable = torch.isfinite(w) & torch.isfinite(e)
        allowed = (atol + rtol * w.abs()).clamp_min(1e-300)
        excess = torch.where(usable, (e - w).abs() / allowed, torch.zeros((), dtype=w.dtype, device=w.device))
        if excess.numel():
            ratio = max(ratio, float(excess.max()))
    eager_frob = _ratio(stats.eager_diff_sq, stats.sum_sq)
    return Bounds(atol=atol, rtol=rtol, scale=max(1.0, 2.0 * ratio),
                  frobenius=max(frobenius, policy.eager_factor * eager_frob))


def _compare_float(index: int, got: torch.Tensor, want: torch.Tensor, eager: torch.Tensor, dtype: str,
                   policy: TolerancePolicy, override: Tolerance | None) -> Mismatch | None:
    numel = want.numel()
    stats = _first_pass(got, want, eager)
    if stats.first_nonfinite is not None:
        return Mismatch(
            output=index, reason="nonfinite", numel=numel, mismatches=stats.bad_nonfinite + stats.special_mismatch,
            first_mismatch=_unravel(stats.first_nonfinite, want.shape),
            detail=f"{stats.bad_nonfinite} NaN/Inf values where the reference is finite"
                   + (" (all NaN: was the output ever written?)" if stats.all_nan
                      else " (overflow, or a read past an input's ends, where the harness keeps NaN?)")
                   + (f"; {stats.special_mismatch} NaN/Inf of the reference not reproduced"
                      if stats.special_mismatch else ""),
        )
    bounds = bounds_for(stats, want, eager, dtype, policy, override)
    frob = _ratio(stats.got_diff_sq, stats.sum_sq)
    mismatches, first, worst, worst_at = 0, None, -1.0, 0
    for offset, (g, w) in _chunks(got, want):
        error = torch.where(torch.isfinite(w), (g - w).abs(), torch.zeros((), dtype=w.dtype, device=w.device))
        wrong = error > bounds.scale * (bounds.atol + bounds.rtol * w.abs())
        count = int(wrong.sum())
        if count and first is None:
            first = offset + int(wrong.nonzero()[0, 0])
        mismatches += count
        at = int(error.argmax())
        if float(error[at]) > worst:
            worst, worst_at = float(error[at]), offset + at
    if not mismatches and frob <= bounds.frobenius:
        return None
    where = _unravel(worst_at, want.shape)
    flat_want, flat_got = want.reshape(-1), got.reshape(-1)
    evidence = dict(
        output=index, numel=numel, mismatches=mismatches, first_mismatch=_unravel(first, want.shape) if first is not None else None,
        max_abs_error=worst, max_error_at=where,
        reference_value=float(flat_want[worst_at]), candidate_value=float(flat_got[worst_at]),
        frobenius_error=frob, frobenius_bound=bounds.frobenius,
    )
    if mismatches:
        detail = (f"{mismatches} of {numel} values outside |err| <= {bounds.scale:.3g}*({bounds.atol:.3g} + "
                  f"{bounds.rtol:.3g}*|ref|); largest error {worst:.4g} at {where}")
        return Mismatch(reason="elementwise", detail=detail, **evidence)  # type: ignore[arg-type]
    detail = f"relative Frobenius error {frob:.3g} exceeds {bounds.frobenius:.3g} (precision too low for {dtype}?)"
    return Mismatch(reason="frobenius", detail=detail, **evidence)  # type: ignore[arg-type]


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
