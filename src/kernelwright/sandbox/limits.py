"""The sandbox's limits policy (`sandbox/limits.toml`): per-phase resource limits, the environment allowlist, hidden
paths."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..resources import data_dir

PHASES = ("inspect", "build", "correctness", "timing", "profile", "reference")


class SandboxPolicyError(ValueError):
    """`sandbox/limits.toml` is missing, malformed, or lacks the phase asked for."""


class Limits(BaseModel):
    """Resource limits for one worker run."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(gt=0)
    address_space_mb: int | None = Field(default=None, gt=0)  # CPU-only workers; ignored with gpu=True
    file_size_mb: int = Field(gt=0)
    open_files: int = Field(gt=0)
    cpu_time_s: int | None = Field(default=None, gt=0)
    threads: int | None = Field(default=None, gt=0)  # OMP/MKL/OpenBLAS thread cap
    kill_grace_s: float = Field(default=1.0, ge=0)
    memory_mb: int | None = Field(default=None, gt=0)  # the whole tree's memory, where a cgroup v2 cap is available
    output_mb: int = Field(default=16, gt=0)  # kept of each of stdout and stderr; the rest is counted and dropped


class EnvPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str]
    deny: list[str]
    thread_vars: list[str] = []


class FilesystemPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hide: list[str] = []


class SandboxPolicy(BaseModel):
    """The parsed `sandbox/limits.toml`."""

    phases: dict[str, Limits]
    env: EnvPolicy
    filesystem: FilesystemPolicy = FilesystemPolicy()


def default_policy_path() -> Path:
    return data_dir("sandbox") / "limits.toml"


def load_policy(path: Path | None = None) -> SandboxPolicy:
    """Parse the sandbox policy; [defaults] are merged into every phase."""
    try:
        target = Path(path) if path is not None else default_policy_path()
        mtime = target.stat().st_mtime_ns
    except OSError as exc:
        raise SandboxPolicyError(f"sandbox policy {path or 'sandbox/limits.toml'} is unreadable: {exc}") from exc
    return _load_policy_cached(target.resolve(), mtime)


@functools.lru_cache(maxsize=8)
def _load_policy_cached(path: Path, _mtime_ns: int) -> SandboxPolicy:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SandboxPolicyError(f"sandbox policy {path} is unreadable: {exc}") from exc
    defaults = data.get("defaults", {})
    try:
        return SandboxPolicy(
            phases={name: {**defaults, **table} for name, table in data.get("phases", {}).items()},
            env=data.get("env", {}),
            filesystem=data.get("filesystem", {}),
        )
    except ValueError as exc:
        raise SandboxPolicyError(f"sandbox policy {path} is invalid: {exc}") from exc


def load_limits(phase: str, path: Path | None = None) -> Limits:
    """The limits of one phase (`inspect`, `build`, `correctness`, `timing`, `profile`, `reference`)."""
    policy = load_policy(path)
    if phase not in policy.phases:
        known = ", ".join(sorted(policy.phases)) or "none"
        raise SandboxPolicyError(f"unknown sandbox phase {phase!r}; the policy defines: {known}")
    return policy.phases[phase].model_copy()
