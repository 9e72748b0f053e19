"""Pure statistics shared by the timing worker and the orchestrator (no numpy: the worker imports it before any
candidate code runs, and both must compute the same numbers)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks of an already sorted sequence (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return quantile(ordered, 0.5) if ordered else math.nan


def relative_standard_error(samples: Sequence[float]) -> float | None:
    """IQR-based standard error of the median, relative to it: 1.2533 * (IQR / 1.349) / sqrt(n) / median.
    None for fewer than 4 samples or a median that is not positive."""
    ordered = sorted(float(s) for s in samples)
    if len(ordered) < 4:
        return None
    middle = quantile(ordered, 0.5)
    if middle <= 0:
        return None
    return 1.2533 * ((quantile(ordered, 0.75) - quantile(ordered, 0.25)) / 1.349) / math.sqrt(len(ordered)) / middle
