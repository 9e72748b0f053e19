"""Pydantic models describing a task, its declarations, input specs and shape variants."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

Dtype = Literal["float32", "float16", "bfloat16", "float64"]
Domain = Literal["real", "positive", "nonnegative", "unit", "probability"]


class Tolerance(BaseModel):
    atol: float | None = None
    rtol: float | None = None


class Declarations(BaseModel):
    """Optional module-level declarations a task file may make (all literal values)."""

    model_config = {"extra": "forbid"}

    dtype: Dtype = "float32"
    allow_tf32: bool = False
    allow_fast_math: bool = False
    input_domain: Domain | dict[int, Domain] = "real"
    allow_inplace: bool = False
    tolerance: Tolerance | None = None
    variants: dict[str, dict[str, int]] = Field(default_factory=dict)

    def domain_of(self, index: int) -> Domain:
        if isinstance(self.input_domain, str):
            return self.input_domain
        return self.input_domain.get(index, "real")

    @field_validator("variants")
    @classmethod
    def _no_empty_names(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for name in value:
            if not name.strip():
                raise ValueError("variant names must not be empty")
        return value


class InputSpec(BaseModel):
    """One argument of get_inputs() / get_init_inputs(), derived without allocating it."""

    index: int
    kind: Literal["tensor", "scalar", "other"]
    shape: list[int] | None = None
    dtype: str | None = None
    value: str | None = None

    def describe(self) -> str:
        if self.kind == "tensor":
            return f"{self.dtype}[{', '.join(map(str, self.shape or []))}]"
        return self.value or self.kind

    def numel(self) -> int:
        return math.prod(self.shape) if self.kind == "tensor" and self.shape is not None else 0

    def nbytes(self) -> int:
        return self.numel() * DTYPE_BYTES.get(self.dtype or "", 4)

    @property
    def is_float(self) -> bool:
        return (self.dtype or "").startswith(("float", "bfloat"))


class Specs(BaseModel):
    """Shapes and sizes of a task at one set of constants."""

    inputs: list[InputSpec]
    init_inputs: list[InputSpec]
    param_count: int
    outputs: list[InputSpec] | None = None

    def input_bytes(self) -> int:
        return sum(spec.nbytes() for spec in self.inputs if spec.dtype)


class Variant(BaseModel):
    """A shape variant: overrides of module-level integer constants."""

    name: str
    overrides: dict[str, int]
    origin: Literal["declared", "derived"]
    specs: Specs | None = None
    note: str | None = None


class Task(BaseModel):
    """A loaded KernelBench-format task."""

    name: str
    level: int | None
    path: str
    hash: str
    docstring: str | None
    source: str
    constants: dict[str, int]
    declarations: Declarations
    specs: Specs | None = None
    specs_note: str | None = None

    @property
    def ref(self) -> str:
        return f"level{self.level}/{self.name}" if self.level is not None else self.name

    @property
    def short_hash(self) -> str:
        return self.hash[:12]


class TaskError(BaseModel):
    """A task file that could not be loaded, with one line saying why."""

    path: str
    message: str

    def line(self) -> str:
        return f"{self.path}: {self.message}"


class LoadResult(BaseModel):
    tasks: list[Task] = Field(default_factory=list)
    errors: list[TaskError] = Field(default_factory=list)


DTYPE_BYTES: dict[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
    "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16,
}


def describe_any(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
