"""What a worker hands back after candidate code ran, through paths bound before the candidate loads.

Candidate code runs in the worker's own process and can rebind anything it reaches by name there: the worker's
module globals (through sys.modules, by string), attributes of torch and the standard library, methods of
torch.Tensor (a Python class), kernels in the dispatcher (torch.library), torch function and dispatch modes.
`seal()`, called before the candidate is imported, returns closures over the C-level callables the hand-back
needs (methods of the immutable torch._C.TensorBase, numpy.ndarray.tobytes, os.write, hashlib.sha256, struct)
and a snapshot of the dispatcher entries of the ops they use; the closures look up no global name (a test reads
their bytecode). They run with torch function and dispatch modes disabled, and `Sealed.tampering()` names any
mode, dispatcher override or worker-global rebinding that appeared since. `private_functions` gives a worker's
post-import code a namespace no module holds.

Not stopped here: code that rewrites the worker's objects in place (gc, frame globals, ctypes, the extension's
native code). See the README, "What the candidate's process can do".

Outputs travel as a raw record file, parsed by the trusted side without pickle (`read_sealed`).
"""

from __future__ import annotations

import builtins
import hashlib
import math
import os
import re
import struct
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy
import torch

MAGIC = b"KWSEAL01"
# Record dtype codes: the index in this tuple. -1: no tensor (None, or not a plain strided tensor); -3: bytes.
RECORD_DTYPES: tuple[torch.dtype, ...] = (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int16, torch.int32,
    torch.int64, torch.bool, torch.complex64, torch.complex128,
)
# The ops the hand-back itself dispatches (detach, copy to the CPU, flatten, reinterpret as bytes, slice).
SEALED_OPS = ("aten::detach", "aten::_to_copy", "aten::copy_", "aten::empty_strided", "aten::contiguous",
              "aten::clone", "aten::reshape", "aten::view", "aten::_unsafe_view", "aten::slice", "aten::narrow",
              "aten::alias", "aten::randint", "aten::take")
# The call channel (see kernelwright.verify.call_checks): after each timed call the worker asks the trusted
# parent whether that call is checked; the parent's answer also carries the seed of the elements it samples.
ASK = struct.Struct("<8sqQ")  # magic, call, the call's input seed
ANSWER = struct.Struct("<8sqqQ")  # magic, call, checked (0/1), sample seed
ASK_MAGIC, ANSWER_MAGIC = b"KWASK001", b"KWANS001"
_HEADER = struct.Struct("<iI")  # dtype code, ndim
_DIM = struct.Struct("<q")
_SIZE = struct.Struct("<Q")
_BLOB = struct.Struct("<iQ")  # -3, length
_FACTS = re.compile(r"changed=\[([\d, ]*)\];guards=\[([\d, ]*)\];aliases=\[([\d, ]*)\];"
                    r"reused=\[([\d, ]*)\];clobbered=\[([\d, ]*)\]")


@dataclass(frozen=True)
class Sealed:
    """Closures bound before the candidate loads. `write(name, values)`: the values as a record file in the job
    dir (tensors by raw bytes, bytes as they are, anything else as "no tensor"); `digest(value)`: sha256 of a
    tensor's bytes (None for anything else); `tampering()`: what changed since the
    seal, in words; `call_facts(inputs, bands, digests_before, outputs, previous, previous_digests)`: which inputs
    changed, whose guard bands were written, which outputs share memory with an input or with the previous call's
    outputs (still held), which of those changed since their call (`parse_facts` reads it); `report(name, value)`: plain
    data as a JSON file (NaN/Inf as null) through the C encoder bound at the seal, replacing any earlier file;
    `entropy()`: 63 random bits from the OS; `ask(call, input_seed)`: the parent's answer for a finished call
    (checked?, sample seed), through the channel's descriptors as they were at the seal (a replaced descriptor
    raises); `sample(outputs, seed, limit)`: [shapes, *values] for a record, each output whole when it has at most
    `limit` elements, else `limit` of its elements drawn by `index_sampler()` from the seed (`read_shapes`)."""

    write: Callable[[str, list[Any]], int]
    digest: Callable[[Any], str | None]
    tampering: Callable[[], list[str]]
    call_facts: Callable[[list[Any], list[Any], list[str | None], list[Any], list[Any], list[str | None]], bytes]
    report: Callable[[str, Any], None]
    entropy: Callable[[], int]
    ask: Callable[[int, int], tuple[bool, int]]
    sample: Callable[[list[Any], int, int], list[Any]]


def seal(job_dir: str, watched: Mapping[str, Any] | None = None, guard_bytes: int = 0,
         channel: tuple[int, int] | None = None) -> Sealed:
    """`watched`: a worker's globals whose rebinding counts as tampering (its own functions and modules);
    `guard_bytes`: the all-ones band at each end of a guarded input's buffer; `channel`: the call channel's
    descriptors (answers read, asks written), when the worker has one."""
    base = torch._C.TensorBase
    detach, to_cpu, contiguous, reshape, view = base.detach, base.cpu, base.contiguous, base.reshape, base.view
    dtype_of, layout_of = base.dtype.__get__, base.layout.__get__
    size_of = base.size
    tobytes, to_numpy = numpy.ndarray.tobytes, base.numpy
    no_function, no_dispatch = torch._C.DisableTorchFunction, torch._C._DisableTorchDispatch
    function_modes, dispatch_modes = torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack
    dispatch_dump = torch._C._dispatch_dump
    storage_of = base.untyped_storage
    storage_ptr, storage_bytes = torch._C.StorageBase.data_ptr, torch._C.StorageBase.nbytes
    device_of = base.device.__get__
    ones = b"\xff" * guard_bytes
    blob = struct.Struct("<iQ").pack
    plain, strided, uint8 = torch.Tensor, torch.strided, torch.uint8
    codes = {dtype: code for code, dtype in enumerate(RECORD_DTYPES)}
    header, dim, size, magic = _HEADER.pack, _DIM.pack, _SIZE.pack, MAGIC
    open_, write_, close_, flags = os.open, os.write, os.close, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    sha256, kind, length, memory, bytes_ = hashlib.sha256, builtins.type, builtins.len, builtins.memoryview, builtins.bytes
    dir_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    ops = SEALED_OPS
    before = tuple(dispatch_dump(op) for op in ops)
    names = tuple(watched or ())
    bound = tuple((watched or {})[n] for n in names)

    def flat_bytes(value: Any) -> Any:
        """A tensor's bytes as a flat uint8 numpy array (a CPU tensor's own memory, no copy)."""
        with no_function(), no_dispatch():
            return to_numpy(view(reshape(contiguous(to_cpu(detach(value))), (-1,)), uint8))

    def put(fd: int, data: Any) -> int:
        buffer = memory(data)
        total = buffer.nbytes
        while buffer:
            buffer = buffer[write_(fd, buffer):]
        return total

    def record(value: Any) -> list[Any]:
        if kind(value) is bytes_:
            return [blob(-3, length(value)), value]
        if kind(value) is not plain or layout_of(value) != strided or dtype_of(value) not in codes:
            return [header(-1, 0)]
        shape = size_of(value)
        data = flat_bytes(value)
        parts = [header(codes[dtype_of(value)], length(shape))]
        for extent in shape:
            parts.append(dim(extent))
        parts.append(size(length(data)))
        parts.append(data)
        return parts

    def write(name: str, values: list[Any]) -> int:
        fd = open_(name, flags, 0o600, dir_fd=dir_fd)
        written = 0
        try:
            parts = [magic, size(length(values))]
            for value in values:
                parts.extend(record(value))
            for part in parts:
                written += put(fd, part)
        finally:
            close_(fd)
        return written

    def digest(value: Any) -> str | None:
        if kind(value) is not plain:
            return None
        return sha256(flat_bytes(value)).hexdigest()

    def span(value: Any) -> tuple[Any, int, int]:
        storage = storage_of(value)
        return device_of(value), storage_ptr(storage), storage_bytes(storage)

    def overlaps(value: Any, others: list[Any]) -> bool:
        if kind(value) is not plain:
            return False
        where, start, count = span(value)
        for other in others:
            if kind(other) is plain:
                other_where, other_start, other_count = span(other)
                if other_where == where and start < other_start + other_count and other_start < start + count:
                    return True
        return False

    def call_facts(inputs: list[Any], bands: list[Any], before: list[str | None], outputs: list[Any],
                   previous: list[Any], previous_digests: list[str | None]) -> bytes:
        changed, overrun, aliased, reused, clobbered = [], [], [], [], []
        index = 0
        for value in inputs:
            if before[index] is not None and digest(value) != before[index]:
                changed.append(index)
            band = bands[index]
            if band is not None and guard_bytes:
                array = flat_bytes(band)
                if tobytes(array[:guard_bytes]) != ones or tobytes(array[length(array) - guard_bytes:]) != ones:
                    overrun.append(index)
            index += 1
        index = 0
        for out in outputs:
            if overlaps(out, inputs):
                aliased.append(index)
            if overlaps(out, previous):
                reused.append(index)
            index += 1
        index = 0
        for old in previous:
            if previous_digests[index] is not None and digest(old) != previous_digests[index]:
                clobbered.append(index)
            index += 1
        return (f"changed={changed};guards={overrun};aliases={aliased};reused={reused};"
                f"clobbered={clobbered}").encode()

    urandom, from_bytes, fstat, read_ = os.urandom, builtins.int.from_bytes, os.fstat, os.read
    failure = builtins.RuntimeError
    answers_fd, asks_fd = channel if channel is not None else (-1, -1)
    channel_ids = tuple((fstat(fd).st_dev, fstat(fd).st_ino) for fd in (answers_fd, asks_fd)) if channel else ()
    pack_ask, unpack_answer, answer_size = ASK.pack, ANSWER.unpack, ANSWER.size
    ask_magic, answer_magic = ASK_MAGIC, ANSWER_MAGIC
    indices, take, to_device, numel_of = index_sampler(), base.take, base.to, base.numel

    def entropy() -> int:
        return from_bytes(urandom(8), "little") >> 1

    def ask(call: int, input_seed: int) -> tuple[bool, int]:
        if not channel_ids:
            raise failure("this worker has no call channel")
        if (fstat(answers_fd).st_dev, fstat(answers_fd).st_ino) != channel_ids[0] or \
                (fstat(asks_fd).st_dev, fstat(asks_fd).st_ino) != channel_ids[1]:
            raise failure("the call channel's descriptors were replaced")
        put(asks_fd, pack_ask(ask_magic, call, input_seed))
        data = b""
        while length(data) < answer_size:
            chunk = read_(answers_fd, answer_size - length(data))
            if not chunk:
                raise failure("the call channel was closed")
            data += chunk
        magic_, echoed, checked, sample_seed = unpack_answer(data)
        if magic_ != answer_magic or echoed != call:
            raise failure("the call channel is out of step")
        return checked == 1, sample_seed

    def sample(values: list[Any], seed: int, limit: int) -> list[Any]:
        shapes, picked, index = [], [], 0
        for value in values:
            if kind(value) is not plain or layout_of(value) != strided or dtype_of(value) not in codes:
                shapes.append("-")
                picked.append(None)
            else:
                dims = ""
                for extent in size_of(value):
                    dims += f"{extent},"
                shapes.append(f"{codes[dtype_of(value)]}:{dims}")
                count = numel_of(value)
                if count <= limit:
                    picked.append(value)
                else:
                    with no_function(), no_dispatch():
                        flat = reshape(contiguous(detach(value)), (-1,))
                        picked.append(to_cpu(take(flat, to_device(indices(count, limit, seed, index),
                                                                  device_of(value)))))
            index += 1
        return [";".join(shapes).encode(), *picked]

    encoder = _c_encoder()
    floating, dictionary, sequence, text, finite = builtins.float, builtins.dict, (builtins.list, builtins.tuple), \
        builtins.str, math.isfinite
    overwrite = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC

    def plain_data(value: Any) -> Any:
        if kind(value) is floating:
            return value if finite(value) else None
        if kind(value) is dictionary:
            return {text(k): plain_data(v) for k, v in value.items()}
        if kind(value) in sequence:
            return [plain_data(v) for v in value]
        return value

    def report(name: str, value: Any) -> None:
        data = text().join(encoder(plain_data(value), 0)).encode()
        fd = open_(name, overwrite, 0o600, dir_fd=dir_fd)
        try:
            put(fd, data)
        finally:
            close_(fd)

    def tampering() -> list[str]:
        found = []
        if function_modes() or dispatch_modes():
            found.append(f"torch modes active: {function_modes()} function, {dispatch_modes()} dispatch")
        index = 0
        for op in ops:
            if dispatch_dump(op) != before[index]:
                found.append(f"dispatcher entry of {op} changed")
            index += 1
        index = 0
        for name in names:
            if (watched or {}).get(name) is not bound[index]:
                found.append(f"worker global {name} rebound")
            index += 1
        return found

    return Sealed(write=write, digest=digest, tampering=tampering, call_facts=call_facts, report=report,
                  entropy=entropy, ask=ask, sample=sample)


def index_sampler() -> Callable[[int, int, int, int], torch.Tensor]:
    """`indices(numel, count, seed, output)`: the elements a check samples of output `output` (CPU int64, with
    repeats); the worker's sealed `sample` and the trusted side draw the same ones."""
    randint, generator, manual_seed, int64 = torch._C._VariableFunctions.randint, torch.Generator(), \
        torch._C.Generator.manual_seed, torch.int64

    def indices(numel: int, count: int, seed: int, output: int) -> torch.Tensor:
        manual_seed(generator, (seed + 7919 * output) % (1 << 63))
        return randint(numel, (count,), generator=generator, dtype=int64)

    return indices


def read_shapes(data: bytes) -> list[tuple[torch.dtype, list[int]] | None]:
    """The shapes blob of `Sealed.sample`: per output its dtype and full shape, or None (not a plain tensor);
    raises SealedFileError when it is not that."""
    shapes: list[tuple[torch.dtype, list[int]] | None] = []
    for part in data.decode("ascii", errors="replace").split(";") if data else []:
        if part == "-":
            shapes.append(None)
            continue
        code, _, dims = part.partition(":")
        if not code.isdigit() or int(code) >= len(RECORD_DTYPES) or not all(d.isdigit() for d in dims.split(",")[:-1]):
            raise SealedFileError("malformed output shapes")
        shapes.append((RECORD_DTYPES[int(code)], [int(d) for d in dims.split(",")[:-1]]))
    return shapes


def _c_encoder() -> Callable[[Any, int], Any]:
    """json's C encoder itself (json.dumps looks up its parts at call time): anything not JSON becomes str()."""
    from json import encoder

    if encoder.c_make_encoder is None:  # pragma: no cover - CPython always builds _json
        raise RuntimeError("the sealed report needs CPython's _json accelerator")
    return encoder.c_make_encoder(None, str, encoder.c_encode_basestring_ascii, None, ": ", ", ", False, False, False)


def private_functions(namespace: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Copies of a module's functions whose globals are a private copy of the module's namespace, in which the
    named functions are the copies too: rebinding the module's globals later changes nothing they call."""
    private = dict(namespace)
    for name in names:
        original = namespace[name]
        copy = types.FunctionType(original.__code__, private, original.__name__, original.__defaults__,
                                  original.__closure__)
        copy.__kwdefaults__ = original.__kwdefaults__
        private[name] = copy
    return private


class SealedFileError(ValueError):
    """A record file that is not what `Sealed.write` writes."""


def read_sealed(data: bytes) -> list[torch.Tensor | bytes | None]:
    """The values of a record file, parsed without pickle; raises SealedFileError on anything malformed."""
    if data[:len(MAGIC)] != MAGIC:
        raise SealedFileError("not a sealed record file")
    offset, whole = len(MAGIC), memoryview(data)

    def take(count: int) -> bytes:
        nonlocal offset
        if count < 0 or offset + count > len(data):
            raise SealedFileError("truncated record file")
        chunk = whole[offset:offset + count]
        offset += count
        return chunk

    (values,) = _SIZE.unpack(take(_SIZE.size))
    out: list[torch.Tensor | bytes | None] = []
    for _ in range(values):
        code, ndim = _HEADER.unpack(take(_HEADER.size))
        if code == -3:
            offset -= _HEADER.size
            _, count = _BLOB.unpack(take(_BLOB.size))
            out.append(bytes(take(count)))
            continue
        if code == -1:
            out.append(None)
            continue
        if not 0 <= code < len(RECORD_DTYPES) or ndim > 64:
            raise SealedFileError(f"bad record header ({code}, {ndim})")
        shape = [_DIM.unpack(take(_DIM.size))[0] for _ in range(ndim)]
        (nbytes,) = _SIZE.unpack(take(_SIZE.size))
        dtype = RECORD_DTYPES[code]
        numel = 1
        for extent in shape:
            if extent < 0:
                raise SealedFileError("negative extent")
            numel *= extent
        if numel * dtype.itemsize != nbytes:
            raise SealedFileError("record size does not match its shape")
        payload = bytearray(take(nbytes))
        tensor = torch.frombuffer(payload, dtype=dtype) if nbytes else torch.empty(0, dtype=dtype)
        out.append(tensor.reshape(shape))
    if offset != len(data):
        raise SealedFileError("trailing bytes after the last record")
    return out


def parse_facts(data: bytes) -> dict[str, list[int]]:
    """`call_facts` as the orchestrator reads it; raises SealedFileError when it is not exactly that."""
    match = _FACTS.fullmatch(data.decode("ascii", errors="replace"))
    if match is None:
        raise SealedFileError("malformed call facts")
    changed, guards, aliases, reused, clobbered = ([int(n) for n in group.split(",") if n.strip()]
                                                   for group in match.groups())
    return {"inputs_changed": changed, "guards_written": guards, "aliases": aliases, "reused": reused,
            "clobbered": clobbered}


def read_call_record(data: bytes, blobs: int) -> tuple[list[bytes], list[torch.Tensor | None]]:
    """A record file whose first `blobs` values are bytes and the rest tensors (or None), as the workers write
    them; raises SealedFileError otherwise."""
    values = read_sealed(data)
    head, tail = values[:blobs], values[blobs:]
    if len(head) != blobs or not all(isinstance(v, bytes) for v in head) or any(isinstance(v, bytes) for v in tail):
        raise SealedFileError("not a call record")
    return head, tail  # type: ignore[return-value]
