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

    def bounds(self, dtype: str) -> DtypeBounds:
        return self.dtype.get(dtype, self.dtype["float32"])


@functools.lru_cache
def load_tolerances(path: Path | None = None) -> TolerancePolicy:
    target = path or data_dir("sandbox") / "tolerances.toml"
    return TolerancePolicy.model_validate(tomllib.loads(target.read_text()))


class AttributionPolicy(BaseModel):
    """What counts as library work in one forward() (sandbox/attribution.toml)."""

    library_namespaces: list[str]
    allowed_ops: list[str]
    allowed_kernels: list[str] = []
    top_ops: int = 5
    min_own_share: dict[int, float] = {}

    def library_op(self, name: str) -> bool:
        """A dispatcher op of a library namespace that does work (not allocation, a view or metadata)."""
        namespace, sep, _ = name.partition("::")
        return bool(sep) and namespace in self.library_namespaces and name not in self.allowed_ops

    def library_kernel(self, name: str) -> bool:
        return not any(allowed in name for allowed in self.allowed_kernels)


@functools.lru_cache
def load_attribution_policy(path: Path | None = None) -> AttributionPolicy:
    target = path or data_dir("sandbox") / "attribution.toml"
    return AttributionPolicy.model_validate(tomllib.loads(target.read_text()))
