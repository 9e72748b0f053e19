"""What a candidate asks `load_inline` to build, and the harness-owned toolchain that builds it."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys

from pydantic import BaseModel, Field

from ..backend import Backend


TORCH_HEADER = re.compile(r"^\s*#\s*include\s*[<\"](torch|ATen|c10)/", re.MULTILINE)
BUILD_FORMAT = 1  # bump when the way we build changes, so old cache entries are not reused


class ExtensionSpec(BaseModel):
    """One `load_inline` call as the candidate made it. The flags it asked for are recorded, never used."""

    name: str
    cpp_sources: list[str]
    cuda_sources: list[str] = Field(default_factory=list)
    functions: list[str] | dict[str, str] | None = None
    requested_flags: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def torch_free_cuda(self) -> bool:
        """CUDA sources that include no torch header can skip torch's headers: the fast build layout."""
        return bool(self.cuda_sources) and not any(TORCH_HEADER.search(src) for src in self.cuda_sources)


class Toolchain(BaseModel):
    """Everything besides the sources that decides what a build produces."""

    backend: Backend
    torch_version: str
    python: str = Field(default_factory=lambda: f"{sys.version_info.major}.{sys.version_info.minor}")
    machine: str = Field(default_factory=platform.machine)
    cpu_model: str | None = None
    cuda_arch: str | None = None
    cflags: list[str]
    cuda_cflags: list[str] = Field(default_factory=list)
    ldflags: list[str] = Field(default_factory=list)


def default_toolchain(backend: Backend, *, fast_math: bool = False, cuda_arch: str | None = None) -> Toolchain:
    import torch

    if backend == "cpu":
        return Toolchain(
            backend="cpu", torch_version=torch.__version__, cpu_model=_cpu_model(),
            cflags=["-O3", "-march=native", "-fopenmp"] + (["-ffast-math"] if fast_math else []),
            ldflags=["-fopenmp"],
        )
    arch = cuda_arch or detect_cuda_arch()
    major, minor = arch.split(".")
    cuda_cflags = ["-O3", "-lineinfo", "-Xptxas=-v", f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}"]
    if fast_math:
        cuda_cflags.append("--use_fast_math")
    return Toolchain(backend="cuda", torch_version=torch.__version__, cuda_arch=arch, cflags=["-O3"], cuda_cflags=cuda_cflags)


def detect_cuda_arch() -> str:
    """The visible GPU's compute capability; `9.0` (H100/H200) when there is no GPU to ask (compile-only)."""
    import os

    import torch

    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        return f"{major}.{minor}"
    return os.environ.get("KERNELWRIGHT_CUDA_ARCH", "9.0")


def build_key(spec: ExtensionSpec, toolchain: Toolchain) -> str:
    payload = {
        "format": BUILD_FORMAT,
        "cpp": spec.cpp_sources,
        "cuda": spec.cuda_sources,
        "functions": spec.functions,
        "toolchain": toolchain.model_dump(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def module_name(key: str) -> str:
    return f"kw_{key[:20]}"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
