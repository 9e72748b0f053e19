"""Describe the machine and software versions a run happens on."""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .models import Environment

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _run(command: list[str], cwd: Path | None = None, timeout_s: float = 5.0) -> str | None:
    """First line of a command's stdout, or None if it is missing, fails or times out."""
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def _safe(fact: Callable[[], Any], default: Any = None) -> Any:
    try:
        return fact()
    except Exception:
        return default


def _git_commit(start: Path = _PACKAGE_DIR) -> str | None:
    if not any((d / ".git").exists() for d in (start, *start.parents)):
        return None
    if shutil.which("git") is None:
        return None
    return _run(["git", "rev-parse", "HEAD"], cwd=start)


def _driver_version() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    return _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], timeout_s=10.0)


def _torch_facts() -> dict[str, Any]:
    try:
        import torch
    except Exception:
        return {}
    facts: dict[str, Any] = {
        "torch_version": _safe(lambda: str(torch.__version__)),
        "cuda_version": _safe(lambda: torch.version.cuda),
    }
    if _safe(torch.cuda.is_available, False):
        facts["gpu_count"] = _safe(torch.cuda.device_count, 0)
        facts["gpu_name"] = _safe(lambda: torch.cuda.get_device_name(0))
    return facts


def _kernelwright_version() -> str | None:
    from kernelwright import __version__

    return __version__


def collect_environment() -> Environment:
    """The current environment; never raises, facts that cannot be learnt are None."""
    try:
        facts: dict[str, Any] = {
            "python_version": _safe(platform.python_version),
            "platform": _safe(platform.platform),
            "hostname": _safe(socket.gethostname),
            "kernelwright_version": _safe(_kernelwright_version),
            "git_commit": _safe(_git_commit),
            "driver_version": _safe(_driver_version),
            **_torch_facts(),
        }
        return Environment.model_validate(facts)
    except Exception:
        return Environment()
