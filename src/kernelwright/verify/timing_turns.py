"""The parent's side of the turns: the baseline worker and the candidate's timing worker run at the same time, and
one of them at a time runs a block of timed calls, when told (`kernelwright.sandbox.turns` has the messages).

The `Conductor` (a thread here) warms each worker up in turn, picks the timing method for all subjects (CUDA-graph
replay when the shorter of eager and candidate is below `graph_below_ms`), then runs rounds: in each round every
subject (eager, compile, candidate) gets one block, in an order that rotates by one subject per round, so drifts of
the machine fall on all of them alike and the paired speedup (`timing.paired_speedup`) cancels them. During a turn
every other worker is stopped (SIGSTOP, `WorkerPause`): the candidate's process cannot burn the cores, or the GPU's
queue, while the baseline runs. It stops when
the median's relative standard error of the candidate and of eager is below `target_rse`, or at `max_samples` per
subject, `max_seconds` of rounds, or the deadline. A worker that answers out of step ends the turns (`violation`).
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from ..sandbox.process_tree import WorkerPause
from ..sandbox.turns import BLOCK, DONE, DONE_MAGIC, MAX_VALUES, PREPARE, STOP, SUBJECTS, TURN, TURN_MAGIC, VALUE, WARM
from .measures import graph_calls
from .stats import relative_standard_error

KIND_NAMES = {WARM: "warm", PREPARE: "prepare", BLOCK: "block", STOP: "stop"}


class TurnRecord(BaseModel):
    worker: str
    kind: str
    subject: str | None = None
    round: int = -1
    wall_ms: float  # from the turn given to its end reported, on the parent's clock
    others_stopped: list[str] = Field(default_factory=list)  # workers held still (SIGSTOP) during the turn


class TurnLog(BaseModel):
    """What the conductor did: the method it picked, every turn, why it stopped or failed."""

    method: str | None = None
    calls_per_sample: int = 1
    subjects: list[str] = Field(default_factory=list)
    warm_ms: dict[str, float] = Field(default_factory=dict)
    rounds: int = 0
    stop_reason: str | None = None
    error: str | None = None
    violation: str | None = None
    notes: list[str] = Field(default_factory=list)
    turns: list[TurnRecord] = Field(default_factory=list)


class _Ended(Exception):
    pass


class Conductor:
    """`workers`: each worker's name and the subjects it may time, in turn order (the baseline's first).
    `worker_fds(name)` go to that worker (pass_fds); `start(alive)` once the workers are launching, `join()` for
    the log, `close()` at the end."""

    def __init__(self, workers: dict[str, list[str]], settings: dict[str, Any], *, cuda: bool,
                 deadline_s: float) -> None:
        self.workers, self.settings, self.cuda = workers, settings, cuda
        self.deadline_s = deadline_s
        self.log = TurnLog()
        self._fds: dict[str, tuple[int, int, int, int]] = {}
        for name in workers:
            turns_read, turns_write = os.pipe()
            done_read, done_write = os.pipe()
            self._fds[name] = (turns_read, turns_write, done_read, done_write)
        # Every worker but the one whose turn it is stands still (SIGSTOP): a candidate's process cannot load the
        # machine while the baseline runs, nor the baseline's while the candidate does.
        self.pauses = {name: WorkerPause() for name in workers}
        self._alive: dict[str, Callable[[], bool]] = {}
        self._thread = threading.Thread(target=self._conduct, name="kw-turns", daemon=True)
        self._deadline = 0.0

    def worker_fds(self, name: str) -> tuple[int, int]:
        """(turns to read, done to write), as `bind_turns` takes them."""
        turns_read, _, _, done_write = self._fds[name]
        return turns_read, done_write

    def start(self, alive: dict[str, Callable[[], bool]]) -> Conductor:
        self._alive = alive
        self._deadline = time.monotonic() + self.deadline_s
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> TurnLog:
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return self.log

    def close(self) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout=5)
        for pause in self.pauses.values():
            pause.close()
        for fds in self._fds.values():
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds = {}

    # ------------------------------------------------------------------------------------------ the turns

    def _conduct(self) -> None:
        try:
            active = self._warm()
            self._method(active)
            self._rounds(active)
        except _Ended as ended:
            self.log.error = self.log.error or str(ended)
        finally:
            for name in self.workers:
                self.pauses[name].go()
                self._send(name, STOP, -1, None, 0)

    def _warm(self) -> dict[str, str]:
        active: dict[str, str] = {}  # subject -> worker
        for name, subjects in self.workers.items():
            values = self._turn(name, WARM, -1, None, 0)
            if not values or len(values) > len(subjects):
                raise _Ended(f"the {name} worker warmed up {len(values)} subjects")
            for subject, value in zip(subjects, values):
                active[subject] = name
                self.log.warm_ms[subject] = value
        self.log.subjects = [s for s in SUBJECTS if s in active]
        return active

    def _method(self, active: dict[str, str]) -> None:
        if not self.cuda:
            self.log.method = "perf_counter"
            return
        self.log.method = "cuda_events"
        short = min(self.log.warm_ms.get("eager", float("inf")), self.log.warm_ms.get("candidate", float("inf")))
        if not short < float(self.settings["graph_below_ms"]):
            return
        calls = graph_calls(short, self.settings)
        ready = [name for name in self.workers if self._turn(name, PREPARE, -1, None, calls) == [1.0]]
        if len(ready) == len(self.workers):
            self.log.method, self.log.calls_per_sample = "cuda_graph", calls
            self.log.notes.append(f"calls shorter than {self.settings['graph_below_ms']} ms: each sample is one "
                                  f"CUDA-graph replay of {calls} calls on one input (L2 flushed before the replay, "
                                  "not between its calls)")
            return
        for name in ready:  # back to plain events for everyone: one method for all subjects
            self._turn(name, PREPARE, -1, None, 0)
        self.log.notes.append("CUDA-graph timing not possible for every subject: every subject timed with events "
                              "behind a busy queue instead")

    def _rounds(self, active: dict[str, str]) -> None:
        names = self.log.subjects
        samples: dict[str, list[float]] = {name: [] for name in names}
        began, round_index = time.monotonic(), 0
        while self.log.stop_reason is None:
            shift = round_index % len(names)
            for subject in names[shift:] + names[:shift]:
                samples[subject] += self._turn(active[subject], BLOCK, round_index, subject, 0)
            round_index += 1
            self.log.rounds = round_index
            self.log.stop_reason = self._stop_reason(samples, began)

    def _stop_reason(self, samples: dict[str, list[float]], began: float) -> str | None:
        settings = self.settings
        counts = [len(s) for s in samples.values()]
        if min(counts) >= settings["min_samples"]:
            errors = [relative_standard_error(samples[n]) for n in ("eager", "candidate") if n in samples]
            if all(e is not None and e <= settings["target_rse"] for e in errors):
                return f"median relative standard error below {settings['target_rse']:g}"
        if max(counts) >= settings["max_samples"]:
            return f"sample cap ({settings['max_samples']} per subject)"
        if time.monotonic() - began >= settings["max_seconds"]:
            return f"time cap ({settings['max_seconds']:g} s of timed rounds)"
        if time.monotonic() > self._deadline:
            return "phase deadline"
        return None

    # ------------------------------------------------------------------------------------------ messages

    def _turn(self, name: str, kind: int, round_index: int, subject: str | None, calls: int) -> list[float]:
        """Gives `name` one turn and waits for its end; the values it reports."""
        stopped = [other for other in self.workers if other != name and self.pauses[other].stop()]
        self.pauses[name].go()
        began = time.perf_counter()
        if not self._send(name, kind, round_index, subject, calls):
            raise _Ended(f"the {name} worker's turn channel is closed")
        header = DONE.unpack(self._read(name, DONE.size))
        magic, done_kind, done_round, count = header
        if magic != DONE_MAGIC or done_kind != kind or done_round != round_index or not 0 <= count <= MAX_VALUES:
            self.log.violation = (f"the {name} worker answered a {KIND_NAMES.get(kind)} turn (round {round_index}) "
                                  f"out of step: something in its process wrote to its turn channel")
            raise _Ended(self.log.violation)
        data = self._read(name, count * VALUE.size)
        values = [VALUE.unpack_from(data, i * VALUE.size)[0] for i in range(count)]
        self.log.turns.append(TurnRecord(worker=name, kind=KIND_NAMES.get(kind, str(kind)), subject=subject,
                                         round=round_index, wall_ms=(time.perf_counter() - began) * 1e3,
                                         others_stopped=stopped))
        return values

    def _send(self, name: str, kind: int, round_index: int, subject: str | None, calls: int) -> bool:
        fds = self._fds.get(name)
        if fds is None:
            return False
        index = SUBJECTS.index(subject) if subject in SUBJECTS else -1
        try:
            os.write(fds[1], TURN.pack(TURN_MAGIC, kind, round_index, index, calls))
        except OSError:
            return False
        return True

    def _read(self, name: str, size: int) -> bytes:
        fd, data = self._fds[name][2], b""
        while len(data) < size:
            try:
                ready, _, _ = select.select([fd], [], [], 0.2)
            except (OSError, ValueError) as exc:
                raise _Ended(f"the {name} worker's channel failed ({exc})") from None
            if not ready:
                if not self._alive.get(name, lambda: False)():
                    raise _Ended(f"the {name} worker ended before its turn did")
                if time.monotonic() > self._deadline:
                    raise _Ended(f"the {name} worker's turn outlasted the phase deadline")
                continue
            try:
                chunk = os.read(fd, size - len(data))
            except OSError as exc:
                raise _Ended(f"the {name} worker's channel failed ({exc})") from None
            if not chunk:
                raise _Ended(f"the {name} worker's channel closed")
            data += chunk
        return data
