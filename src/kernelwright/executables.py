"""Finding an external tool (ncu, compute-sanitizer): an environment variable, then PATH, then configured paths."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence


def find_executable(name: str, env_var: str, paths: Sequence[str], configured_in: str) -> tuple[str | None, str]:
    """The tool's path, or None; and where it came from (or why none was found)."""
    configured = os.environ.get(env_var)
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured, f"${env_var}"
        return None, f"${env_var}={configured} is not an executable file"
    on_path = shutil.which(name)
    if on_path:
        return on_path, "PATH"
    for candidate in paths:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate, f"{configured_in} paths"
    return None, f"{name} is not on PATH nor in {', '.join(paths) or 'the configured paths'}"
