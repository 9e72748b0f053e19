"""A precompiled torch header per toolchain, so the C++ wrapper of a candidate skips most of torch's parse time.

Built once by the trusted orchestrator (it compiles only torch's own headers) into the build cache, then
passed to builds with `-include`. `-Winvalid-pch` in the flags makes GCC say in the log when it cannot use it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from .extensions import Toolchain

HEADER = "kw_torch.h"
PCH_TIME_LIMIT_S = 900


def pch_flags(toolchain: Toolchain) -> list[str]:
    """The flags torch's build uses for main.cpp that decide whether a precompiled header is valid."""
    import torch

    include = Path(torch.__file__).parent / "include"
    return [
        "-DTORCH_API_INCLUDE_EXTENSION_H",
        "-isystem", str(include),
        "-isystem", str(include / "torch" / "csrc" / "api" / "include"),
        "-isystem", sysconfig.get_path("include"),
        "-fPIC", "-std=c++20", *toolchain.cflags,
    ]


def ensure_pch(toolchain: Toolchain, cache_root: Path) -> Path | None:
    """The header to `-include`, building its .gch on first use; None when GCC cannot build one here."""
    flags = pch_flags(toolchain)
    compiler = os.environ.get("CXX", "c++")
    key = hashlib.sha256("\0".join([compiler, _compiler_version(compiler), *flags]).encode()).hexdigest()[:24]
    final = cache_root / "pch" / key
    if (final / f"{HEADER}.gch").exists():
        return final / HEADER
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
    try:
        (staging / HEADER).write_text("#include <torch/extension.h>\n")
        subprocess.run([compiler, "-x", "c++-header", str(staging / HEADER), "-o", str(staging / f"{HEADER}.gch"), *flags],
                       check=True, capture_output=True, timeout=PCH_TIME_LIMIT_S)
        staging.rename(final)
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(staging, ignore_errors=True)
        return final / HEADER if (final / f"{HEADER}.gch").exists() else None
    return final / HEADER


def _compiler_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
