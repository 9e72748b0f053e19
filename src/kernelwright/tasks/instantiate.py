"""Building a task for real: its Model and inputs at a set of constants, on a device, in its dtype."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .execution import quiet
from .models import Task
from .source import parse_task_source, with_constants

TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
}


@dataclass
class Instance:
    model: torch.nn.Module
    inputs: list[Any]
    init_inputs: list[Any]


def instantiate(
    task: Task, overrides: dict[str, int] | None = None, *, device: str = "cpu", seed: int = 0, dtype: str | None = None
) -> Instance:
    """Runs the task module with overridden sizes and returns an eval-mode model and inputs.

    This allocates real memory: callers choose a variant that fits the device.
    """
    namespace = task_namespace(task.source, task.path, overrides or {})
    target = TORCH_DTYPES[dtype or task.declarations.dtype]
    with quiet():
        torch.manual_seed(seed)
        init_inputs = list(namespace["get_init_inputs"]())
        model = namespace["Model"](*init_inputs).to(device=device, dtype=target).eval()
        inputs = [_place(value, device, target) for value in namespace["get_inputs"]()]
    return Instance(model=model, inputs=inputs, init_inputs=init_inputs)


def task_inputs(task: Task, overrides: dict[str, int], *, device: str, seed: int) -> list[Any]:
    """Only the task's get_inputs() at these sizes (no Model is built), on the device, dtypes as the task makes them."""
    namespace = task_namespace(task.source, task.path, overrides)
    torch.manual_seed(seed)
    with quiet():
        return [value.to(device) if isinstance(value, torch.Tensor) else value for value in namespace["get_inputs"]()]


def task_namespace(source: str, path: str, overrides: dict[str, int]) -> dict[str, Any]:
    """The task module run for real (no meta device) with its integer sizes overridden."""
    tree = with_constants(parse_task_source(source, path).tree, overrides)
    namespace: dict[str, Any] = {"__name__": "kernelwright_task", "__file__": path}
    with quiet():
        exec(compile(tree, path, "exec"), namespace)
    return namespace


def _place(value: Any, device: str, dtype: torch.dtype) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_floating_point():
        return value.to(device=device, dtype=dtype)
    return value.to(device=device)
