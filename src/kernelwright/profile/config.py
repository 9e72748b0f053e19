"""The profiler policy: `sandbox/profiler.toml` as pydantic models."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..resources import data_dir


class NcuSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=240.0, gt=0)
    warmup_calls: int = Field(default=3, ge=0)
    profiled_calls: int = Field(default=2, ge=1)
    nvtx_range: str = "kw_profile"
    launch_skip: int = Field(default=0, ge=0)
    launch_count: int = Field(default=64, ge=1)
    kernel_filter: Literal["own", "all"] = "own"
    retry_missing_metrics: bool = True
    args: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(min_length=1)


class TorchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(default=180.0, gt=0)
    warmup_calls: int = Field(default=3, ge=0)
    timed_calls: int = Field(default=10, ge=1)
    profiled_calls: int = Field(default=5, ge=1)
    calibration_ranges: int = Field(default=25, ge=0)


class ProfilerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ncu: NcuSettings
    torch: TorchSettings = TorchSettings()


def load_profiler_config(path: Path | None = None) -> ProfilerConfig:
    target = path or data_dir("sandbox") / "profiler.toml"
    return ProfilerConfig.model_validate(tomllib.loads(Path(target).read_text()))
