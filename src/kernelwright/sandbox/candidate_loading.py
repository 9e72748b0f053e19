"""Executing candidate source with `load_inline` under the harness's control (runs inside workers only)."""

from __future__ import annotations

import importlib.util
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.utils.cpp_extension as cpp_extension

from .extensions import ExtensionSpec

_ALLOWED_KWARGS = {"name", "cpp_sources", "cuda_sources", "functions", "extra_cflags", "extra_cuda_cflags",
                   "extra_ldflags", "extra_include_paths", "build_directory", "verbose", "with_cuda",
                   "is_python_module", "with_pytorch_error_handling", "keep_intermediates", "use_pch",
                   "no_implicit_headers"}


class CandidateError(Exception):
    """The candidate did something the harness cannot run; the message is for the Coder."""


class PendingExtension:
    """Stands in for an extension while sources are only being recorded."""

    def __init__(self, index: int) -> None:
        self._index = index

    def __getattr__(self, name: str) -> Any:
        raise CandidateError(
            f"extension {self._index} was used at import time (attribute {name!r}); call its functions in forward() only"
        )


def spec_from_call(args: tuple, kwargs: dict[str, Any]) -> ExtensionSpec:
    params = dict(zip(("name", "cpp_sources", "cuda_sources"), args))
    params.update(kwargs)
    unknown = set(params) - _ALLOWED_KWARGS
    if unknown:
        raise CandidateError(f"load_inline got unsupported arguments: {', '.join(sorted(unknown))}")
    as_list = lambda value: [value] if isinstance(value, str) else list(value or [])  # noqa: E731
    functions = params.get("functions")
    return ExtensionSpec(
        name=str(params.get("name", "ext")),
        cpp_sources=as_list(params.get("cpp_sources")),
        cuda_sources=as_list(params.get("cuda_sources")),
        functions=[functions] if isinstance(functions, str) else functions,
        requested_flags={k: as_list(params[k]) for k in ("extra_cflags", "extra_cuda_cflags", "extra_ldflags") if params.get(k)},
    )


def exec_candidate(source: str, path: str, load_inline: Callable[..., Any]) -> types.ModuleType:
    """Runs the candidate's top level with `load_inline` (and `load`) replaced; returns the module."""
    def refuse_load(*args: Any, **kwargs: Any) -> Any:
        raise CandidateError("use torch.utils.cpp_extension.load_inline with inline sources; load() of files is not supported")

    originals = (cpp_extension.load_inline, cpp_extension.load)
    cpp_extension.load_inline, cpp_extension.load = load_inline, refuse_load
    module = types.ModuleType(f"kernelwright_candidate_{uuid.uuid4().hex[:8]}")
    module.__file__ = path
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    finally:
        cpp_extension.load_inline, cpp_extension.load = originals
    model_new = getattr(module, "ModelNew", None)
    if not (isinstance(model_new, type) and issubclass(model_new, torch.nn.Module)):
        raise CandidateError("the candidate defines no class ModelNew(nn.Module)")
    return module


def adopt_weights(model: torch.nn.Module, reference_state: dict[str, Any]) -> str:
    """Gives ModelNew the reference's weights when its parameters match Model's by name and shape ("loaded");
    otherwise it keeps the weights its own seeded construction made ("seeded")."""
    own = model.state_dict()
    if own.keys() == reference_state.keys() and all(own[k].shape == v.shape for k, v in reference_state.items()):
        model.load_state_dict(reference_state)
        return "loaded"
    return "seeded"


def recording_loader(specs: list[ExtensionSpec]) -> Callable[..., Any]:
    def load_inline(*args: Any, **kwargs: Any) -> PendingExtension:
        specs.append(spec_from_call(args, kwargs))
        return PendingExtension(len(specs) - 1)

    return load_inline


def cached_loader(built: list[dict[str, str]]) -> Callable[..., Any]:
    """Serves each load_inline call with the module the harness built for exactly these sources."""
    from .extensions import Toolchain, build_key

    calls = iter(built)

    def load_inline(*args: Any, **kwargs: Any) -> types.ModuleType:
        spec = spec_from_call(args, kwargs)
        entry = next(calls, None)
        if entry is None:
            raise CandidateError("the candidate called load_inline more often than when its sources were recorded")
        if build_key(spec, Toolchain.model_validate_json(entry["toolchain"])) != entry["key"]:
            raise CandidateError("the candidate passed different sources to load_inline than when they were recorded")
        return CountingExtension(import_built(entry["module"], Path(entry["library"])))

    return load_inline


class CountingExtension:
    """Wraps a built extension so the harness sees which of its functions forward() really calls."""

    calls: dict[str, int] = {}
    profiling = False  # named profiler ranges only while attributing: they cost ~1 us a call in timing
    range_prefix = "kw_own::"  # the correctness worker sets a secret one

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._module, name)
        if not callable(target) or name.startswith("__"):
            return target
        counts, prefix = CountingExtension.calls, CountingExtension.range_prefix

        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            if not CountingExtension.profiling:
                return target(*args, **kwargs)
            with torch.profiler.record_function(f"{prefix}{name}"):
                return target(*args, **kwargs)

        return counted


def import_built(name: str, library: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        raise CandidateError(f"cannot load built extension {library.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
