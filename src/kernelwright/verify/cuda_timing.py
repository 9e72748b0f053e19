"""CUDA timing primitives shared by the timing workers: events, a device-wide sync, the L2 flush and the reset of
persisting L2 lines (cudaCtxResetPersistingL2Cache from the runtime torch loaded), and recovery after a failed
graph capture. Nothing here runs on the CPU backend."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from .stats import median


class CudaPrimitives:
    """CUDA timing primitives, bound at construction (in a candidate's process: before its code loads, so patching
    torch.cuda later is moot). `start()` touches the device: the L2 reset, the flush buffer, the sync's own cost."""

    def __init__(self) -> None:
        base = torch._C._CudaEventBase
        self._event_cls = torch.cuda.Event
        self._record, self._elapsed, self._event_sync = base.record, base.elapsed_time, base.synchronize
        self.device_sync = torch._C._cuda_synchronize  # cudaDeviceSynchronize: every stream of the device
        self._zero, self._median, self._init = torch.Tensor.zero_, median, torch.cuda.init
        self._current_stream = torch.cuda.current_stream
        self.stream: Any = None
        self.reset_fn: Callable[[], Any] | None = None
        self.reset_note = "not started"
        self.flush: torch.Tensor | None = None
        self.sync_overhead_ms: float | None = None

    def start(self) -> CudaPrimitives:
        self._init()
        self.stream = self._current_stream()
        self.reset_fn, self.reset_note = _persisting_l2_reset()
        self.flush = self.flush_buffer()
        self.sync_overhead_ms = self._sync_overhead()
        return self

    def event(self) -> Any:
        return self._event_cls(enable_timing=True)

    def record(self, event: Any) -> None:
        self._record(event, self.stream)

    def event_sync(self, event: Any) -> None:
        self._event_sync(event)

    def elapsed(self, start: Any, end: Any) -> float:
        return float(self._elapsed(start, end))

    def flush_l2(self) -> None:
        """Resets persisting L2 lines, then evicts L2 by zeroing a buffer of twice its size (queued, not waited)."""
        if self.reset_fn is not None:
            self.reset_fn()
        self._zero(self.flush)

    def flush_buffer(self) -> torch.Tensor:
        l2 = int(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0) or 0) or 64 * 2**20
        return torch.empty(2 * l2 // 4, dtype=torch.int32, device="cuda")

    def _sync_overhead(self, calls: int = 25) -> float:
        """Median time from an end event to one recorded after a device-wide sync, with nothing between them but
        the sync: what the sync itself adds to every synced sample (the orchestrator takes it off again, never
        below the plain end event's time). Queued behind a flush, like every timed call."""
        plain, synced = self.event(), self.event()
        gaps = []
        for _ in range(calls):
            self.flush_l2()
            self.record(plain)
            self.device_sync()
            self.record(synced)
            self.event_sync(synced)
            gaps.append(self.elapsed(plain, synced))
        return self._median(gaps)


def _cudart() -> tuple[Any, str]:
    """The CUDA runtime library torch loaded (ctypes handle), or None and why not."""
    try:
        import ctypes

        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if line.strip() and "libcudart" in os.path.basename(line.split()[-1])})
        for path in paths:
            return ctypes.CDLL(path), os.path.basename(path)
    except OSError as exc:
        return None, f"libcudart not loadable ({exc})"
    return None, "no libcudart loaded in the process (statically linked runtime?)"


def _persisting_l2_reset() -> tuple[Callable[[], Any] | None, str]:
    """cudaCtxResetPersistingL2Cache: torch has no binding, so it is called from the libcudart torch loaded."""
    direct = getattr(torch._C, "_cuda_resetPersistingL2Cache", None)
    if callable(direct):
        return direct, "torch._C._cuda_resetPersistingL2Cache"
    library, where = _cudart()
    if library is None:
        return None, where
    try:
        import ctypes

        function = library.cudaCtxResetPersistingL2Cache
        function.restype = ctypes.c_int
        code = function()
    except (OSError, AttributeError) as exc:
        return None, f"cudaCtxResetPersistingL2Cache unavailable ({type(exc).__name__}: {exc})"
    if code != 0:
        return None, f"cudaCtxResetPersistingL2Cache returned error {code}"
    return function, f"cudaCtxResetPersistingL2Cache from {where}"


def recover(prims: CudaPrimitives) -> None:
    """After a failed graph capture: wait for the device and clear the runtime's last (non-sticky) error, so
    the next kernel launch check does not report the capture's failure as its own."""
    try:
        prims.device_sync()
    except Exception:
        pass
    library, _ = _cudart()
    if library is not None:
        try:
            library.cudaGetLastError()
        except (OSError, AttributeError):
            pass
