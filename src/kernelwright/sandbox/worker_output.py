"""A worker's stdout or stderr, bounded: a pipe the runner drains, keeping the first `limit` bytes in a file and the
last few thousand characters in memory, and counting the rest. A candidate that prints gigabytes fills no disk and is
never blocked on a full pipe (blocking would read as a hang of its own making, but one the runner caused)."""

from __future__ import annotations

import os
import select
import shutil
import threading
from pathlib import Path

TAIL_CHARS = 4000
_CHUNK = 1 << 20


class CapturedOutput:
    """Start before the worker (pass `child_fd` to it), `started()` once it runs, `finish()` after it exits."""

    def __init__(self, path: Path, limit_bytes: int, tail_chars: int = TAIL_CHARS) -> None:
        self.path, self.limit, self.tail_chars = path, limit_bytes, tail_chars
        _remove(path)
        # O_EXCL | O_NOFOLLOW: a symlink an earlier worker planted at the path is not followed.
        self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        self._read, self.child_fd = os.pipe2(os.O_CLOEXEC)
        self._tail = b""
        self.written = self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name=f"drain {path.name}", daemon=True)
        self._thread.start()

    def started(self) -> None:
        """The worker holds its own copy of the write end now; ours must close, or the pipe never ends."""
        if self.child_fd >= 0:
            os.close(self.child_fd)
            self.child_fd = -1

    def finish(self, timeout_s: float = 5.0) -> None:
        """Wait until every writer has closed the pipe (a straggler the runner could not kill: at most
        `timeout_s`), then close it; the file then says how much was dropped."""
        self.started()
        self._thread.join(timeout_s)
        self._stop.set()
        self._thread.join()
        os.close(self._read)
        if self.dropped:
            note = f"\n[kernelwright: {self.dropped} more bytes of output were dropped; the end was:]\n"
            os.write(self._file, note.encode() + self._tail[-self.tail_chars * 4:])
        os.close(self._file)

    @property
    def tail(self) -> str:
        return self._tail.decode("utf-8", errors="replace")[-self.tail_chars:]

    def _drain(self) -> None:
        keep = self.tail_chars * 4  # bytes: enough for `tail_chars` characters of any UTF-8
        while not self._stop.is_set():
            ready, _, _ = select.select([self._read], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(self._read, _CHUNK)
            if not chunk:
                return
            room = max(0, self.limit - self.written)
            if room:
                os.write(self._file, chunk[:room])
                self.written += min(room, len(chunk))
            self.dropped += max(0, len(chunk) - room)
            self._tail = (self._tail + chunk)[-keep:]


def _remove(path: Path) -> None:
    try:
        if path.is_symlink() or path.exists():
            path.unlink()
    except IsADirectoryError:
        shutil.rmtree(path)
