"""Reading what a worker left in its job folder without trusting it: no symlinks, no FIFOs, bounded sizes."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any


def read_worker_file(job_dir: Path, name: str, max_bytes: int = 64 * 1024 * 1024) -> bytes:
    """A file a worker wrote in its job dir, read without trusting it: no symlinks, no FIFOs, no subpaths,
    bounded size. Raises OSError (FileNotFoundError if absent) or ValueError."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    dir_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{name} in {job_dir} is a symlink") from exc
        raise
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{name} in {job_dir} is not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"{name} in {job_dir} is {info.st_size} bytes, over the {max_bytes} limit")
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise ValueError(f"{name} in {job_dir} grew past the {max_bytes} byte limit")
        return data
    finally:
        os.close(fd)


def read_worker_text(job_dir: Path, name: str, max_bytes: int = 16 * 1024 * 1024) -> str:
    """A text file a worker's process (or a tool wrapped around it) wrote, read as read_worker_file does; "" when
    absent, too large, a symlink or otherwise unreadable."""
    try:
        return read_worker_file(job_dir, name, max_bytes).decode(errors="replace")
    except (OSError, ValueError):
        return ""


def read_worker_json(job_dir: Path, name: str, max_bytes: int = 32 * 1024 * 1024) -> dict[str, Any]:
    """A worker's JSON result object, read as read_worker_file does; {} when absent, malformed or not an object."""
    try:
        value = json.loads(read_worker_file(job_dir, name, max_bytes))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
