"""Where the shipped data folders (`sandbox/` policy, `prompts/`) live: the checkout, or the install prefix."""

from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def data_dir(name: str) -> Path:
    """`sandbox` or `prompts`: beside `src/` in a checkout, under `share/kernelwright/` when installed."""
    for candidate in (_CHECKOUT / name, Path(sys.prefix) / "share" / "kernelwright" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kernelwright's {name}/ folder is missing; reinstall kernelwright")
