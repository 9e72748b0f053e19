"""Which timed candidate calls are checked, decided by the trusted parent after each call.

The timing worker draws every call's inputs from a fresh OS-random seed just before the call, so nothing in its
process tells a checked call from an unchecked one beforehand. After the call it asks the parent over a pipe pair
opened before the worker started (`Sealed.ask`): "call k is done, its input seed was s". The `Dealer` (a thread
here) answers from the run's secret seed, which never enters the worker: checked or not, and the seed of the
output elements to hand back. Asks must come in call order, once each; an ask out of turn (the candidate asking
ahead to learn its fate before doing the work) ends the dealing and is reported as tampering.

Schedule: the first `always` calls are all checked, later call k with probability always / (k + 1): about
always * (1 + ln(n / always)) checks in n calls. The trusted side then redraws each checked call's inputs from its
seed, computes the float64 reference on them, and compares the handed-back elements (`timing_checks`).
"""

from __future__ import annotations

import math
import os
import random
import select
import threading
from dataclasses import dataclass, field

from ..sandbox.sealed import ANSWER, ANSWER_MAGIC, ASK, ASK_MAGIC


def check_probability(call: int, always: int) -> float:
    return 1.0 if call < always else always / (call + 1)


def catch_bound(calls: int, always: int, fraction: float = 0.05) -> float:
    """The chance that checking catches a candidate skipping its work on `fraction` of `calls` timed calls, chosen
    knowing the schedule but not the draws: it skips the calls least likely to be checked (the last ones)."""
    if calls <= 0:
        return 0.0
    skipped = max(1, math.ceil(fraction * calls))
    missed = 1.0
    for call in range(calls - skipped, calls):
        missed *= 1.0 - check_probability(call, always)
    return 1.0 - missed


@dataclass
class DealtCall:
    call: int
    input_seed: int
    checked: bool
    sample_seed: int


@dataclass
class Dealer:
    """The parent's end of the call channel. `worker_fds` go to the worker (pass_fds); `start()` before the worker
    starts, `stop()` once it has ended."""

    seed: int
    always: int
    calls: list[DealtCall] = field(default_factory=list)
    violation: str | None = None

    def __post_init__(self) -> None:
        self._answers_read, self._answers_write = os.pipe()
        self._asks_read, self._asks_write = os.pipe()
        self._open = {self._answers_read, self._answers_write, self._asks_read, self._asks_write}
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kw-dealer", daemon=True)

    @property
    def worker_fds(self) -> tuple[int, int]:
        """(answers to read, asks to write), as `seal(channel=...)` takes them."""
        return self._answers_read, self._asks_write

    def start(self) -> Dealer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Closes the worker's ends here (the worker holds its own copies while it runs) and ends the thread."""
        self._stopping.set()
        self._close(self._answers_read, self._asks_write)
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=10)
        self._close(self._answers_write, self._asks_read)

    @property
    def checked(self) -> list[DealtCall]:
        return [c for c in self.calls if c.checked]

    def _serve(self) -> None:
        buffer = b""
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._asks_read], [], [], 0.2)
                if not ready:
                    continue
                chunk = os.read(self._asks_read, 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= ASK.size:
                message, buffer = buffer[:ASK.size], buffer[ASK.size:]
                if not self._answer(message):
                    self._close(self._answers_write)  # the worker's next ask ends in end-of-file
                    return

    def _answer(self, message: bytes) -> bool:
        magic, call, input_seed = ASK.unpack(message)
        expected = len(self.calls)
        if magic != ASK_MAGIC:
            self.violation = "a malformed ask on the call channel"
        elif call != expected:
            self.violation = (f"call {call} asked about out of turn (call {expected} was next): something in the "
                              "worker's process asked whether a call is checked before the call was done")
        if self.violation:
            return False
        checked = self._rng.random() < check_probability(call, self.always)
        sample_seed = self._rng.getrandbits(63)
        self.calls.append(DealtCall(call=call, input_seed=input_seed, checked=checked, sample_seed=sample_seed))
        try:
            os.write(self._answers_write, ANSWER.pack(ANSWER_MAGIC, call, int(checked), sample_seed))
        except OSError:
            return False
        return True

    def _close(self, *fds: int) -> None:
        with self._lock:
            for fd in fds:
                if fd in self._open:  # never twice: the number may belong to another file by then
                    self._open.discard(fd)
                    try:
                        os.close(fd)
                    except OSError:
                        pass
