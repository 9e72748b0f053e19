"""Shape variants: the ones a task declares, and ones derived by overriding its integer constants."""

from __future__ import annotations

from pydantic import BaseModel

from .execution import EnvironmentLimit, TaskRunError, TaskTimeout, derive_specs, execute_module, quiet, time_limit
from .models import Specs, Task, Variant
from .source import TaskSourceError, parse_task_source, with_constants

SMALL_ELEMENT_BUDGET = 1 << 18
MIN_SCALED_SIZE = 8
RESIZABLE_FROM = 16
VARIANT_TIME_LIMIT_S = 30.0


class VariantReport(BaseModel):
    """The variants a task runs at, and the derived ones that were dropped with the reason."""

    variants: list[Variant]
    dropped: list[Variant]


def specs_at(task: Task, overrides: dict[str, int]) -> Specs:
    """Specs of the task with its constants overridden, including output shapes (a meta-device forward)."""
    tree = with_constants(parse_task_source(task.source, task.path).tree, overrides)
    with quiet(), time_limit(VARIANT_TIME_LIMIT_S):
        module = execute_module(compile(tree, task.path, "exec"), task.path)
        return derive_specs(module, with_outputs=True)


def task_variants(task: Task) -> VariantReport:
    """Declared variants as given; otherwise odd, batch and small variants derived and checked."""
    proposals = [Variant(name=n, overrides=o, origin="declared") for n, o in task.declarations.variants.items()]
    if not proposals:
        proposals = _derive(task)
    kept, dropped = [], []
    for variant in proposals:
        try:
            variant.specs = specs_at(task, variant.overrides)
            kept.append(variant)
        except (TaskRunError, TaskSourceError, EnvironmentLimit, TaskTimeout) as exc:
            variant.note = str(exc)
            (kept if variant.origin == "declared" else dropped).append(variant)
    return VariantReport(variants=kept, dropped=dropped)


def _derive(task: Task) -> list[Variant]:
    sizes = {name: value for name, value in task.constants.items() if value >= RESIZABLE_FROM}
    proposals = []
    odd = _odd_sizes(task, sizes)
    if odd:
        proposals.append(Variant(name="odd", overrides=odd, origin="derived"))
    batch = next((name for name in task.constants if "batch" in name.lower()), None)
    if batch is not None:
        value = task.constants[batch]
        proposals.append(Variant(name="batch", overrides={batch: value // 2 + 1 if value > 1 else 3}, origin="derived"))
    small = _shrink(task)
    if small is not None:
        proposals.append(Variant(name="small", overrides=small, origin="derived"))
    return proposals


def _odd_sizes(task: Task, sizes: dict[str, int], base: dict[str, int] | None = None, step: int = -1) -> dict[str, int]:
    """Makes every size odd (never a multiple of 2, 8 or 32) that the reference still accepts.

    All at once first; when the task constrains some sizes (heads dividing features), one at a time,
    keeping each change under which the reference still runs. Returns only the changed sizes.
    """
    base = base or {}
    odd = {name: value + step if value % 2 == 0 else value + 2 * step for name, value in sizes.items()}
    if not odd or _runs(task, {**base, **odd}):
        return odd
    kept: dict[str, int] = {}
    for name, value in odd.items():
        if _runs(task, {**base, **kept, name: value}):
            kept[name] = value
    return kept


def cpu_scale_variants(task: Task) -> list[Variant]:
    """Three CPU-sized shapes: the small variant, an odd-sized one and one with another batch."""
    small = task.declarations.variants.get("small")
    if small is None:
        small = _shrink(task)
        if small is None:
            return []
    base = {**task.constants, **small}
    variants = [Variant(name="small", overrides=small, origin="declared" if "small" in task.declarations.variants else "derived")]
    sizes = {n: v for n, v in base.items() if v >= MIN_SCALED_SIZE}
    if sizes:
        # The largest size roughly doubles, so a kernel that only handles one tile's worth of it fails.
        largest = max(sizes, key=sizes.__getitem__)
        sizes[largest] = 2 * sizes[largest] - 1
    odd = _odd_sizes(task, sizes, small, step=1)
    if odd:
        variants.append(Variant(name="small_odd", overrides={**small, **odd}, origin="derived"))
    batch = next((name for name in task.constants if "batch" in name.lower()), next(iter(small), None))
    if batch is not None and _runs(task, {**small, batch: base[batch] + 3}):
        variants.append(Variant(name="small_batch", overrides={**small, batch: base[batch] + 3}, origin="derived"))
    return variants


def _runs(task: Task, overrides: dict[str, int]) -> bool:
    try:
        specs_at(task, overrides)
    except (TaskRunError, TaskSourceError, EnvironmentLimit, TaskTimeout):
        return False
    return True


def _shrink(task: Task) -> dict[str, int] | None:
    """Halves the largest size until inputs and parameters fit the CPU budget."""
    overrides: dict[str, int] = {}
    for _ in range(64):
        try:
            specs = specs_at(task, overrides)
        except (TaskRunError, TaskSourceError, EnvironmentLimit, TaskTimeout):
            return None
        if _elements(specs) <= SMALL_ELEMENT_BUDGET:
            return overrides
        current = {**task.constants, **overrides}
        resizable = {n: v for n, v in current.items() if v >= RESIZABLE_FROM and v // 2 >= MIN_SCALED_SIZE}
        if not resizable:
            return None
        largest = max(resizable, key=resizable.__getitem__)
        overrides[largest] = resizable[largest] // 2 + (1 if resizable[largest] // 2 % 2 == 0 else 0)
    return None


def _elements(specs: Specs) -> int:
    total = specs.param_count
    for spec in specs.inputs + (specs.outputs or []):
        if spec.kind == "tensor" and spec.shape is not None:
            numel = 1
            for dim in spec.shape:
                numel *= dim
            total += numel
    return total
