"""Verification policy read from the repository's `sandbox/` folder (data, not constants in code)."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from pydantic import BaseModel

from ..resources import data_dir


class DtypeBounds(BaseModel):
    atol_scale: float
    rtol: float
    frobenius: float


class TolerancePolicy(BaseModel):
    eager_factor: float
    dtype: dict[str, DtypeBounds]
    min_own_share: dict[int, float] = {}

    def bounds(self, dtype: str) -> DtypeBounds:
        return self.dtype.get(dtype, self.dtype["float32"])


@functools.lru_cache
def load_tolerances(path: Path | None = None) -> TolerancePolicy:
    target = path or data_dir("sandbox") / "tolerances.toml"
    return TolerancePolicy.model_validate(tomllib.loads(target.read_text()))
