"""The machine a benchmark ran on, recorded beside its numbers."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def machine() -> dict[str, str]:
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
               platform.processor())
    try:
        nvcc = subprocess.run(["nvcc", "--version"], check=False, capture_output=True, text=True).stdout.strip().splitlines()
    except OSError:
        nvcc = []
    return {"cpu": cpu, "cores": str(len(os.sched_getaffinity(0))), "torch": torch.__version__,
            "python": platform.python_version(), "nvcc": nvcc[-1] if nvcc else "none",
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none"}
