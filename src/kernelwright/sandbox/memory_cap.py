"""A memory cap for one worker's whole process tree: a cgroup v2 child of the runner's own cgroup with `memory.max`
(and no swap), where the runner may create one with the memory controller enabled. Elsewhere the runner falls back
to RLIMIT_AS for CPU workers (see `isolation._rlimits`); a GPU worker then runs uncapped, which the outcome says."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

_MOUNTINFO = Path("/proc/self/mountinfo")
_OWN_CGROUP = Path("/proc/self/cgroup")


def delegated_root(mountinfo: Path = _MOUNTINFO, own: Path = _OWN_CGROUP) -> Path | None:
    """The runner's cgroup v2 folder if it can hold capped children (memory controller enabled for its children,
    writable), else None. KERNELWRIGHT_CGROUP names another such folder (a delegated systemd scope, say)."""
    named = os.environ.get("KERNELWRIGHT_CGROUP")
    candidates = [Path(named)] if named else []
    mount = _cgroup2_mount(mountinfo)
    if mount is not None and not named:
        relative = _own_v2_path(own)
        if relative is not None:
            candidates.append(mount / relative.lstrip("/"))
    for folder in candidates:
        try:
            enabled = (folder / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if "memory" in enabled and os.access(folder, os.W_OK):
            return folder
    return None


class MemoryCap:
    """One worker's cgroup: made before the worker starts, entered by the forked child before exec, read and removed
    after the tree is gone."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.folder = root / f"kw-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.folder.mkdir()
        (self.folder / "memory.max").write_text(str(max_bytes))
        if (self.folder / "memory.swap.max").exists():
            (self.folder / "memory.swap.max").write_text("0")  # swapping would turn the cap into a slow hang
        self._procs = str(self.folder / "cgroup.procs").encode()

    def enter(self) -> None:
        """Runs in the child between fork and exec: system calls only."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")  # "0": the writing process itself
        finally:
            os.close(fd)

    def oom_kills(self) -> int:
        """How many processes of the tree the kernel killed for reaching the cap."""
        try:
            for line in (self.folder / "memory.events").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        try:
            self.folder.rmdir()  # a cgroup folder goes with rmdir once no process is left in it
        except OSError:
            pass


def _cgroup2_mount(mountinfo: Path) -> Path | None:
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split()[4])
    return None


def _own_v2_path(own: Path) -> str | None:
    try:
        lines = own.read_text().splitlines()
    except OSError:
        return None
    return next((line[3:] for line in lines if line.startswith("0::")), None)
