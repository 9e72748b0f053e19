"""Task admission: is a task verifiable as written? Degeneracy filters and canary candidates that must fail."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, Field

from ..tasks import Task, cpu_scale_variants, instantiate, task_variants
from ..tasks.instantiate import TORCH_DTYPES
from .compare import compare_outputs
from .distributions import redraw
from .reference_worker import as_list, float64, float64_copy
from .policy import load_tolerances

LOWER_PRECISION = {"float64": "float32", "float32": "float16", "float16": "bfloat16", "bfloat16": "float8_e4m3fn"}
CANARIES = ("zeros", "constant", "input_copy", "uninitialised", "lower_precision")


class AdmissionReport(BaseModel):
    task: str
    admitted: bool
    problems: list[str] = Field(default_factory=list)
    canaries: dict[str, str] = Field(default_factory=dict)
    shapes: list[str] = Field(default_factory=list)
    output_rms: float | None = None


def admit(task: Task, device: str = "cpu", seed: int = 0) -> AdmissionReport:
    """Runs the reference on three shapes and two weight inits; a task passes if no check finds a problem."""
    report = AdmissionReport(task=task.ref, admitted=False)
    variants = cpu_scale_variants(task) if device == "cpu" else [v for v in task_variants(task).variants if v.specs][:3]
    shapes = [(v.name, v.overrides) for v in variants] if device == "cpu" else [("nominal", {})] + [(v.name, v.overrides) for v in variants][:2]
    report.shapes = [name for name, _ in shapes]
    if len(shapes) < 3:
        report.problems.append(f"only {len(shapes)} shape(s) run; a task needs 3 (declare 'odd' and 'batch' variants)")
    policy = load_tolerances()
    for name, overrides in shapes:
        try:
            _check_shape(task, name, overrides, device, seed, policy, report)
        except Exception as exc:  # the task's own code failed: that is the finding
            report.problems.append(f"shape '{name}': the reference raised {type(exc).__name__}: {exc}")
    for canary, shapes_passed in report.canaries.items():
        if shapes_passed.startswith("PASSES"):
            report.problems.append(f"canary '{canary}' passes: the bounds cannot tell it from the reference on any shape")
    report.admitted = not report.problems
    return report


def _check_shape(task: Task, name: str, overrides: dict[str, int], device: str, seed: int, policy: Any,
                 report: AdmissionReport) -> None:
    dtype = task.declarations.dtype
    first = instantiate(task, overrides, device=device, seed=seed + 1, dtype=dtype)
    second = instantiate(task, overrides, device=device, seed=seed + 2, dtype=dtype)
    domain_of, target = task.declarations.domain_of, TORCH_DTYPES[dtype]
    inputs_a = redraw(first.inputs, "normal", torch.Generator().manual_seed(seed + 11), domain_of, target)
    inputs_b = redraw(second.inputs, "normal", torch.Generator().manual_seed(seed + 12), domain_of, target)
    with torch.no_grad():
        expected = _outputs(float64_copy(first.model), [float64(x) for x in inputs_a])
        eager = _outputs(first.model, inputs_a)
        other_inputs = _outputs(first.model, inputs_b)
        other_weights = _outputs(second.model, inputs_a)
    floats = [o for o in expected if o.is_floating_point()]
    if floats:
        rms = max(float(o.pow(2).mean().sqrt()) for o in floats)
        report.output_rms = rms if report.output_rms is None else max(report.output_rms, rms)
        if all(float(o.abs().max()) <= 0.01 for o in floats):
            report.problems.append(f"shape '{name}': every output lies within +-0.01, so zeros would pass an absolute bound")
        if all(float(o.std()) < 1e-6 * max(1.0, float(o.abs().mean())) for o in floats if o.numel() > 1):
            report.problems.append(f"shape '{name}': the output is constant")
    if all(torch.equal(a, b) for a, b in zip(eager, other_inputs)):
        report.problems.append(f"shape '{name}': the output does not depend on the inputs")
    has_weights = any(True for _ in first.model.parameters())
    if has_weights and all(torch.equal(a, b) for a, b in zip(eager, other_weights)):
        report.problems.append(f"shape '{name}': the output does not depend on the weights")
    if compare_outputs(list(eager), expected, eager, dtype, policy, task.declarations.tolerance):
        report.problems.append(f"shape '{name}': the task's own eager output fails its bounds")
    # A canary counts as caught when any shape catches it: a candidate must pass every shape.
    for canary, outputs in _canaries(task, first.model, inputs_a, eager, dtype).items():
        state = report.canaries.get(canary, "")
        if outputs is None:
            report.canaries[canary] = state or "not applicable"
        elif compare_outputs(outputs, expected, eager, dtype, policy, task.declarations.tolerance):
            report.canaries[canary] = "fails as it should"
        elif state != "fails as it should":
            report.canaries[canary] = "PASSES: the bounds cannot tell it from the reference on any shape"


def _canaries(task: Task, model: torch.nn.Module, inputs: list[Any], eager: list[torch.Tensor],
              dtype: str) -> dict[str, list[torch.Tensor] | None]:
    first_input = next((x for x in inputs if isinstance(x, torch.Tensor)), None)
    copy = None
    if first_input is not None and len(eager) == 1 and first_input.numel() == eager[0].numel() \
            and first_input.dtype == eager[0].dtype:
        copy = [first_input.reshape(eager[0].shape).clone()]
    return {
        "zeros": [torch.zeros_like(o) for o in eager],
        "constant": [torch.full_like(o, float(o.double().mean()) if o.is_floating_point() else 1) for o in eager],
        "input_copy": copy,
        "uninitialised": [torch.full_like(o, float("nan")) if o.is_floating_point() else torch.full_like(o, -1) for o in eager],
        # Integer outputs are compared exactly: a lower-precision run that yields the same integers is right.
        "lower_precision": _lower_precision(model, inputs, eager, dtype) if any(o.is_floating_point() for o in eager) else None,
    }


def _lower_precision(model: torch.nn.Module, inputs: list[Any], eager: list[torch.Tensor], dtype: str) -> list[torch.Tensor] | None:
    """The task computed one precision step lower: every float tensor rounded through the lower dtype."""
    import copy

    lower = getattr(torch, LOWER_PRECISION.get(dtype, ""), None)
    if lower is None:
        return None
    try:
        low_model = copy.deepcopy(model)
        for tensor in list(low_model.parameters()) + list(low_model.buffers()):
            if tensor.is_floating_point():
                tensor.data = tensor.data.to(lower).to(tensor.dtype)
        rounded = [x.to(lower).to(x.dtype) if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
        with torch.no_grad():
            out = _outputs(low_model, rounded)
        return [o.to(lower).to(o.dtype) if o.is_floating_point() else o for o in out]
    except (RuntimeError, TypeError):
        return None


def _outputs(model: torch.nn.Module, inputs: list[Any]) -> list[torch.Tensor]:
    return [o.detach() for o in as_list(model(*inputs))]
