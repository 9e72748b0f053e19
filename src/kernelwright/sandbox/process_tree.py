"""The processes of one worker: found through /proc, frozen, signalled through pidfds, waited for without reaping."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time


def proc_table() -> list[tuple[int, int, int]]:
    """(pid, ppid, session id) of every visible process."""
    table = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        table.append((int(entry.name), int(fields[1]), int(fields[3])))
    return table


def members(root: int) -> set[int]:
    """`root`'s descendants and everything in its session. Only call while `root` is not yet reaped, so its
    pid (and session id) cannot have been reused."""
    children: dict[int, list[int]] = {}
    found = set()
    for pid, ppid, sid in proc_table():
        children.setdefault(ppid, []).append(pid)
        if sid == root:
            found.add(pid)
    stack = [root, *found]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(os.getpid())
    return found


class Tree:
    """The processes of one worker, frozen with SIGSTOP as they are found (so none forks away or dies and
    leaves its children to init mid-kill), each held by a pidfd so a recycled pid is never signalled."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.held: dict[int, int | None] = {}

    def freeze(self) -> None:
        for _ in range(50):
            fresh = members(self.root) - self.held.keys()
            if not fresh:
                return
            for pid in fresh:
                try:
                    self.held[pid] = os.pidfd_open(pid)
                except (AttributeError, OSError):
                    self.held[pid] = None
                self._send(pid, signal.SIGSTOP)

    def _send(self, pid: int, sig: int) -> None:
        fd = self.held.get(pid)
        try:
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def send(self, sig: int) -> None:
        for pid in self.held:
            self._send(pid, sig)
        try:
            os.killpg(self.root, sig)  # the root is not reaped yet, so its group id is still ours
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        for fd in self.held.values():
            if fd is not None:
                os.close(fd)
        self.held.clear()


def kill_tree(root: int) -> bool:
    """SIGKILL `root` and everything it started. True if there was more than `root` itself."""
    tree = Tree(root)
    try:
        tree.freeze()
        tree.send(signal.SIGKILL)
        return bool(tree.held.keys() - {root})
    finally:
        tree.close()


def terminate(proc: subprocess.Popen, pidfd: int | None, grace_s: float) -> None:
    """SIGTERM the whole tree, SIGKILL it `grace_s` later, and wait for the root to exit."""
    tree = Tree(proc.pid)
    try:
        tree.freeze()
        tree.send(signal.SIGTERM)
        tree.send(signal.SIGCONT)
        wait_exit(proc, pidfd, grace_s)
        tree.freeze()  # whatever it started during the grace
        tree.send(signal.SIGKILL)
    finally:
        tree.close()
    wait_exit(proc, pidfd, None)


def wait_exit(proc: subprocess.Popen, pidfd: int | None, timeout: float | None) -> bool:
    """Wait until the child has exited, without reaping it. True if it has."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if pidfd is not None:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([pidfd], [], [], left)
            except InterruptedError:
                continue
            return bool(ready)
    pause = 0.002
    while True:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.05)


class WorkerPause:
    """Stops every process of a running worker (SIGSTOP, as `Tree` finds them) and lets them go on (SIGCONT):
    the timing phase holds the candidate's worker still while the baseline worker times its block. `started(pid)`
    comes from run_isolated's `on_start`; before that, and once the worker has exited, it does nothing."""

    def __init__(self) -> None:
        self._root: int | None = None
        self._pidfd: int | None = None
        self._tree: Tree | None = None
        self._lock = threading.Lock()

    def started(self, pid: int) -> None:
        with self._lock:
            self._root = pid
            try:
                self._pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):
                self._pidfd = None

    def stop(self) -> bool:
        """True when the worker's processes are stopped now."""
        with self._lock:
            if self._tree is None and self._root is not None and self._pidfd is not None and self._alive():
                tree = Tree(self._root)
                tree.freeze()
                self._tree = tree
            return self._tree is not None

    def go(self) -> None:
        with self._lock:
            tree, self._tree = self._tree, None
            if tree is not None:
                for pid in tree.held:
                    tree._send(pid, signal.SIGCONT)
                tree.close()

    def close(self) -> None:
        self.go()
        with self._lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
            self._pidfd = self._root = None

    def _alive(self) -> bool:
        try:
            signal.pidfd_send_signal(self._pidfd, 0)
        except (ProcessLookupError, OSError):
            return False
        return True
