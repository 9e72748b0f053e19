"""Ctrl-C during `run` and `eval`: the first stops the run at its next step, a second one exits at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .render import console

FORCED_EXIT = 130


@contextmanager
def graceful_stop(runner: Any, command: str) -> Iterator[None]:
    """While the body runs, SIGINT asks `runner` to stop (queued samples dropped, running ones end at their next step
    with their work stored) and says so at once; a second SIGINT marks the run interrupted and exits 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = 0

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal hits
        hits += 1
        if hits == 1:
            running = runner.in_flight()
            console.print(f"stopping: {running} sample{'' if running == 1 else 's'} in flight; Ctrl-C again to force",
                          highlight=False, soft_wrap=True)
            runner.stop()
            return
        console.print(f"forced; finished work is stored: kernelwright {command} --resume {runner.run.id}",
                      highlight=False, soft_wrap=True)
        try:
            runner.store.finish_run(runner.run.id, status="interrupted")
        finally:
            os._exit(FORCED_EXIT)  # sample threads are not interruptible; their workers die with this process

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
