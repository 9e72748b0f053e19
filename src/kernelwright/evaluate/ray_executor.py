"""Verification on a Ray cluster: one GPU per verification task, results returned to the orchestrator.

The orchestrator (the process running `kernelwright eval`) keeps the store and the agents; Ray workers only build,
verify and profile, and hand back the pydantic results it stores. Install with `pip install 'kernelwright[ray]'`.

The phases run in Ray workers, to which a callback cannot be sent: `on_phase` is accepted, as the Executor protocol
says, and never told (a progress view shows the phase its caller named first). Verifications there run in the
default ExecutionContext: no lane (Ray picks the worker's GPU), no timing guard.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from ..profile.models import ProfileReport
from ..sandbox.build import BuildCache, BuildOutcome
from ..tasks import Task
from ..verify.models import VerificationResult
from ..verify.pipeline import VerifyOptions
from .executor_base import LaneStats, PhaseCallback


class ExecutorError(Exception):
    """The executor cannot start (Ray missing, no cluster, no GPU in it): one line for the user."""


def _remote_build(task: Task, source: str, options: dict, cache_root: str) -> dict:
    from .executor_base import timed_prebuild

    built = timed_prebuild(task, source, VerifyOptions.model_validate(options), BuildCache(Path(cache_root)))
    if isinstance(built, VerificationResult):
        return {"early": built.model_dump(mode="json")}
    return {"builds": [b.model_dump(mode="json") for b in built]}


def _remote_verify(task: Task, source: str, options: dict, cache_root: str) -> dict:
    from ..verify.pipeline import verify

    result = verify(task, source, VerifyOptions.model_validate(options), BuildCache(Path(cache_root)))
    return result.model_dump(mode="json")


def _remote_profile(task: Task, source: str, result: dict, device: str, cache_root: str) -> dict:
    from ..profile import profile_candidate

    report = profile_candidate(task, source, VerificationResult.model_validate(result), device=device,
                               cache=BuildCache(Path(cache_root)))
    return report.model_dump(mode="json")


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as error:
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {error}") from None


class RayExecutor:
    def __init__(self, device: str, *, cache: BuildCache | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("the Ray executor needs Ray: pip install 'kernelwright[ray]'") from None
        self._ray, self.device = ray, device
        if address and address != "auto":
            _reachable(address)  # ray.init waits minutes for an address that does not answer
        if not ray.is_initialized():
            try:
                ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ExecutorError(f"cannot reach the Ray cluster at {address or 'a new local instance'}: {error}") from None
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if device == "cuda" and gpus == 0:
            raise ExecutorError("the Ray cluster has no GPU; start workers with GPUs or use --device cpu")
        # A shared filesystem makes the cache shared; without one each node keeps its own (content-addressed) copy.
        self.cache_root = str((cache or BuildCache()).root)
        self.lanes = gpus if device == "cuda" else 1
        device_need = {"num_gpus": 1} if device == "cuda" else {"num_cpus": 1}
        self._build = ray.remote(_remote_build).options(num_cpus=1)
        self._verify = ray.remote(_remote_verify).options(**device_need)
        self._profile = ray.remote(_remote_profile).options(**device_need)
        self._in_flight = threading.BoundedSemaphore(self.lanes)  # on CPU: one timing at a time, as locally
        self._lock = threading.Lock()
        self._stats = LaneStats(lanes={f"ray{i}": 0.0 for i in range(self.lanes)})
        self._started = time.monotonic()

    def build(self, task: Task, source: str, options: VerifyOptions,
              on_phase: PhaseCallback | None = None) -> VerificationResult | list[BuildOutcome]:
        """prebuild in a Ray worker: the early verdict or the builds (see LocalExecutor.build). `on_phase`: not
        told (see the module's docstring)."""
        started = time.monotonic()
        try:
            built = self._ray.get(self._build.remote(task, source, options.model_dump(mode="json"), self.cache_root))
        finally:
            with self._lock:
                self._stats.build_s += time.monotonic() - started
                self._stats.builds += 1
        if "early" in built:
            return VerificationResult.model_validate(built["early"])
        return [BuildOutcome.model_validate(b) for b in built["builds"]]

    def verify(self, task: Task, source: str, options: VerifyOptions,
               on_phase: PhaseCallback | None = None) -> VerificationResult:
        """verify in a Ray worker with a GPU of its own. `on_phase`: not told (see the module's docstring)."""
        dump = self._on_lane(self._verify, task, source, options.model_dump(mode="json"), self.cache_root)
        with self._lock:
            self._stats.verifications += 1
        return VerificationResult.model_validate(dump)

    def profile(self, task: Task, source: str, result: VerificationResult, device: str,
                on_phase: PhaseCallback | None = None) -> ProfileReport:
        dump = self._on_lane(self._profile, task, source, result.model_dump(mode="json"), device, self.cache_root)
        return ProfileReport.model_validate(dump)

    def _on_lane(self, remote: Any, *args: Any) -> Any:
        with self._in_flight:
            started = time.monotonic()
            try:
                return self._ray.get(remote.remote(*args))
            finally:
                with self._lock:
                    lane = min(self._stats.lanes, key=self._stats.lanes.get)  # spread busy time for the share
                    self._stats.lanes[lane] += time.monotonic() - started

    def stats(self) -> LaneStats:
        with self._lock:
            return self._stats.model_copy(update={"wall_s": time.monotonic() - self._started}, deep=True)

    def close(self) -> None:
        pass
