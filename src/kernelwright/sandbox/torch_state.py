"""Process-wide torch state: the one precision rule and thread setting every worker applies before it runs
anything, the snapshot of settings that change what torch computes, the identity snapshot of torch's callables
(to see what was patched), and what a worker reports of its own environment. Used by the workers that load
candidate code and by the trusted baseline worker alike, so it sits below both."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch

Precision = Literal["highest", "high"]


def matmul_precision(allow_tf32: bool) -> Precision:
    """fp32 means fp32 math unless the task allows TF32 (see the precision policy): the rule for every worker."""
    return "high" if allow_tf32 else "highest"


def apply_settings(threads: int | None, allow_tf32: bool) -> None:
    """The settings every worker gets before it loads anything: its thread count and the precision rule."""
    if threads:
        torch.set_num_threads(int(threads))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
        torch.backends.cudnn.allow_tf32 = allow_tf32
        torch.set_float32_matmul_precision(matmul_precision(allow_tf32))


def process_environment(device: str) -> dict[str, Any]:
    """What a worker reports of itself: versions, threads, and for CUDA the device it sees."""
    env: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0],
                           "threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        env.update(cuda=torch.version.cuda, device_name=torch.cuda.get_device_name(0),
                   cudnn=torch.backends.cudnn.version())
    return env


def state_snapshot() -> dict[str, Any]:
    """Process-wide settings that change what torch computes or how fast."""
    state: dict[str, Any] = {}
    probes: dict[str, Callable[[], Any]] = {
        "cuda.matmul.allow_tf32": lambda: torch.backends.cuda.matmul.allow_tf32,
        "cuda.matmul.allow_fp16_reduced_precision_reduction":
            lambda: torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
        "cuda.matmul.allow_bf16_reduced_precision_reduction":
            lambda: torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
        "cudnn.allow_tf32": lambda: torch.backends.cudnn.allow_tf32,
        "cudnn.benchmark": lambda: torch.backends.cudnn.benchmark,
        "cudnn.deterministic": lambda: torch.backends.cudnn.deterministic,
        "cudnn.enabled": lambda: torch.backends.cudnn.enabled,
        "mkldnn.enabled": lambda: torch.backends.mkldnn.enabled,
        "sdp.flash": lambda: torch.backends.cuda.flash_sdp_enabled(),
        "sdp.mem_efficient": lambda: torch.backends.cuda.mem_efficient_sdp_enabled(),
        "sdp.math": lambda: torch.backends.cuda.math_sdp_enabled(),
        "float32_matmul_precision": torch.get_float32_matmul_precision,
        "num_threads": torch.get_num_threads,
        "num_interop_threads": torch.get_num_interop_threads,
        "default_dtype": lambda: str(torch.get_default_dtype()),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled,
        "grad_enabled": torch.is_grad_enabled,
        # a candidate that makes another stream current would move its own later work onto it
        "cuda.current_stream": lambda: (torch.cuda.current_stream().cuda_stream
                                        if torch.cuda.is_available() and torch.cuda.is_initialized() else None),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, probe in probes.items():
            try:
                value = probe()
                state[key] = value if isinstance(value, (bool, int, float, str)) else repr(value)
            except Exception as exc:
                state[key] = f"unreadable: {type(exc).__name__}"
    return state


def _patch_targets() -> dict[str, Any]:
    targets: dict[str, Any] = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.nn.functional": torch.nn.functional,
                               "torch.nn.Module": torch.nn.Module, "time": sys.modules["time"],
                               "json": sys.modules["json"]}
    if torch.cuda.is_available():
        targets["torch.cuda.Event"] = torch.cuda.Event
    return targets


_CUDA_NAMES = ("synchronize", "Event", "Stream", "current_stream", "graph", "CUDAGraph", "get_device_properties")


def patch_snapshot() -> dict[str, Any]:
    """The objects bound to torch's (and time's) callables now: compared by identity after the candidate ran."""
    snapshot: dict[str, Any] = {}
    for label, target in _patch_targets().items():
        for key, value in list(vars(target).items()):
            if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                snapshot[f"{label}.{key}"] = value
    for key in _CUDA_NAMES:
        if key in vars(torch.cuda):
            snapshot[f"torch.cuda.{key}"] = vars(torch.cuda)[key]
    return snapshot


def patched_since(snapshot: dict[str, Any]) -> list[str]:
    now = patch_snapshot()
    return sorted(name for name, value in snapshot.items() if now.get(name) is not value)[:50]
