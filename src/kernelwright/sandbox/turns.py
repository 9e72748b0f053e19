"""The turn channel of a timing worker: the trusted parent says what to run next, the worker says when it is done.

The eager / torch.compile baselines are timed in a worker that never loads candidate code, the candidate in its
own; both run at the same time and take turns, block by block, as the parent (`kernelwright.verify.timing_turns`)
says, so machine noise still falls on both alike. A pipe pair per worker, opened by the parent before the worker
starts. Parent -> worker: TURN (magic, kind, round, subject, calls per sample). Worker -> parent: DONE (magic,
kind, round, count), then `count` float64 values (warm-up medians, or the block's samples in ms).

Kinds: WARM (warm every subject up), PREPARE (calls per sample: 0 plain events, n > 0 CUDA-graph replay of n
calls; the values say 1.0 ready or 0.0 not possible), BLOCK (one block of timed calls of a subject), STOP.
`bind_turns` is called before any candidate code loads: its closures hold os.read / os.write and the structs.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

TURN = struct.Struct("<8sqqqq")  # magic, kind, round, subject index, calls per sample
DONE = struct.Struct("<8sqqq")  # magic, kind, round, count (then count float64 values)
VALUE = struct.Struct("<d")
TURN_MAGIC, DONE_MAGIC = b"KWTURN01", b"KWDONE01"
WARM, PREPARE, BLOCK, STOP = 0, 1, 2, 3
SUBJECTS = ("eager", "compile", "candidate")
MAX_VALUES = 4096


class TurnError(RuntimeError):
    """The turn channel closed or went out of step."""


@dataclass(frozen=True)
class Turn:
    kind: int
    round: int
    subject: str | None
    calls: int


@dataclass(frozen=True)
class TurnChannel:
    """`wait()`: the parent's next turn; `done(turn, values)`: the turn is over, with its values."""

    wait: Callable[[], Turn]
    done: Callable[[Turn, list[float]], None]


def bind_turns(fds: tuple[int, int]) -> TurnChannel:
    """`fds`: (turns to read, done to write), as the parent passed them."""
    turns_fd, done_fd = fds
    read_, write_ = os.read, os.write
    unpack_turn, turn_size, pack_done, pack_value = TURN.unpack, TURN.size, DONE.pack, VALUE.pack
    turn_magic, done_magic, subjects, make, failure = TURN_MAGIC, DONE_MAGIC, SUBJECTS, Turn, TurnError
    length, stop, memory, to_float = len, STOP, memoryview, float

    def wait() -> Turn:
        data = b""
        while length(data) < turn_size:
            chunk = read_(turns_fd, turn_size - length(data))
            if not chunk:
                return make(stop, -1, None, 0)  # the parent is gone: nothing more to run
            data += chunk
        magic, kind, round_, subject, calls = unpack_turn(data)
        if magic != turn_magic:
            raise failure("the turn channel is out of step")
        return make(kind, round_, subjects[subject] if 0 <= subject < length(subjects) else None, calls)

    def done(turn: Turn, values: list[float]) -> None:
        data = pack_done(done_magic, turn.kind, turn.round, length(values))
        for value in values:
            data += pack_value(to_float(value))
        view = memory(data)
        while length(view):
            view = view[write_(done_fd, view):]

    return TurnChannel(wait=wait, done=done)
