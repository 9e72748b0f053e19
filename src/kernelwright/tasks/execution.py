"""Running a task module's top level and its input factories without allocating real memory."""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import types
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

from .models import InputSpec, Specs, describe_any

_MOVES = {"cuda", "cpu", "pin_memory"}
SMALL_REAL_TENSOR = 1 << 16


class TaskRunError(Exception):
    """Running the task failed in a way that says the file is broken."""


class EnvironmentLimit(Exception):
    """Running the task needs something this machine lacks (a package, the network, a real tensor)."""


class TaskTimeout(Exception):
    pass


class MetaDeviceMode(TorchFunctionMode):
    """Routes every tensor factory to the meta device and turns device moves into no-ops.

    Unlike `torch.device("meta")`, this also wins over an explicit `device="cuda"` and `.cuda()`,
    which many public tasks use in get_inputs(). With `real_below`, factories whose result has fewer
    elements are made for real on the CPU, for modules that read a small tensor's value while they are
    built (`torch.linspace(...)[i].item()`).
    """

    def __init__(self, real_below: int = 0) -> None:
        super().__init__()
        self.real_below = real_below

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", "")
        if func in _device_constructors():
            kwargs["device"] = "meta"
            kwargs.pop("pin_memory", None)
            result = func(*args, **kwargs)
            if isinstance(result, torch.Tensor) and result.numel() < self.real_below:
                kwargs["device"] = "cpu"
                return func(*args, **kwargs)
            return result
        elif name in _MOVES and args and isinstance(args[0], torch.Tensor):
            return args[0]
        elif name == "to" and args and isinstance(args[0], torch.Tensor):
            _, dtype, _, _ = torch._C._nn._parse_to(*args[1:], **kwargs)
            return args[0] if dtype is None else func(args[0], dtype=dtype)
        return func(*args, **kwargs)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupts Python code that runs too long (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def _expire(signum: int, frame: Any) -> None:
        raise TaskTimeout(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Task code may print or warn; none of that may reach our own output (e.g. --json)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def execute_module(code: types.CodeType, path: str) -> types.ModuleType:
    """Executes compiled task source in a fresh module with tensors on the meta device."""
    module = types.ModuleType(f"kernelwright_task_{uuid.uuid4().hex[:8]}")
    module.__file__ = path
    sys.modules[module.__name__] = module
    try:
        with MetaDeviceMode():
            exec(code, module.__dict__)
    except (ImportError, OSError) as exc:
        raise EnvironmentLimit(_environment_reason(exc)) from None
    except TaskTimeout:
        raise
    except Exception as exc:
        raise TaskRunError(f"module top level raised {_exc_line(exc)}") from None
    finally:
        sys.modules.pop(module.__name__, None)
    model = getattr(module, "Model", None)
    if not (isinstance(model, type) and issubclass(model, torch.nn.Module)):
        raise TaskRunError("Model is not a torch.nn.Module subclass")
    return module


def derive_specs(module: types.ModuleType, *, with_outputs: bool = False) -> Specs:
    """Input, init-input and parameter specs of an executed task module, all on meta."""
    mode = MetaDeviceMode()
    with mode:
        init_inputs = _call(module, "get_init_inputs")
        inputs = _call(module, "get_inputs")
        try:
            model = _construct(module, init_inputs, mode)
        except (ImportError, OSError) as exc:
            raise EnvironmentLimit(_environment_reason(exc)) from None
        except TaskTimeout:
            raise
        except Exception as exc:
            _raise_meta_or_broken(exc, "Model(*get_init_inputs())")
        outputs = None
        if with_outputs:
            try:
                with torch.no_grad():
                    out = model.eval()(*inputs)
            except TaskTimeout:
                raise
            except Exception as exc:
                _raise_meta_or_broken(exc, "Model.forward(*get_inputs())")
            outputs = describe_values(out if isinstance(out, (tuple, list)) else [out])
    return Specs(
        inputs=describe_values(inputs),
        init_inputs=describe_values(init_inputs),
        param_count=sum(p.numel() for p in model.parameters()),
        outputs=outputs,
    )


def _construct(module: types.ModuleType, init_inputs: list[Any], mode: MetaDeviceMode) -> torch.nn.Module:
    try:
        return module.Model(*init_inputs)
    except RuntimeError as exc:
        if "meta tensor" not in str(exc):
            raise
    mode.real_below = SMALL_REAL_TENSOR
    try:
        return module.Model(*init_inputs)
    finally:
        mode.real_below = 0


def describe_values(values: Any) -> list[InputSpec]:
    specs = []
    for index, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            specs.append(InputSpec(index=index, kind="tensor", shape=list(value.shape), dtype=str(value.dtype).removeprefix("torch.")))
        elif isinstance(value, (bool, int, float, str)) or value is None:
            specs.append(InputSpec(index=index, kind="scalar", value=describe_any(value)))
        else:
            specs.append(InputSpec(index=index, kind="other", value=type(value).__name__))
    return specs


def _call(module: types.ModuleType, name: str) -> list[Any]:
    try:
        values = getattr(module, name)()
    except (ImportError, OSError) as exc:
        raise EnvironmentLimit(_environment_reason(exc)) from None
    except TaskTimeout:
        raise
    except Exception as exc:
        _raise_meta_or_broken(exc, f"{name}()")
    if not isinstance(values, (list, tuple)):
        raise TaskRunError(f"{name}() returned {type(values).__name__}, expected a list")
    return list(values)


def _raise_meta_or_broken(exc: Exception, where: str) -> None:
    message = str(exc)
    if isinstance(exc, NotImplementedError) or "meta" in message.lower():
        raise EnvironmentLimit(f"{where} cannot be traced on the meta device ({_exc_line(exc)})") from None
    raise TaskRunError(f"{where} raised {_exc_line(exc)}") from None


def _environment_reason(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"needs Python package '{exc.name.split('.')[0]}', which is not installed"
    return f"needs something this machine lacks: {_exc_line(exc)}"


def _exc_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
