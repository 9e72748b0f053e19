"""The CUDA share of one call, from the profiler's records: linked kernels, or the GPU's own records by time."""

from types import SimpleNamespace

from torch.autograd import DeviceType
from torch.autograd.profiler_util import Interval

from kernelwright.verify.attribution import CALL, _device_share, _kernels_per_call, launches_kernel


def _event(name: str, start: float, end: float, device: DeviceType = DeviceType.CPU, kernels: list | None = None):
    return SimpleNamespace(name=name, time_range=Interval(start, end), device_type=device, kernels=kernels or [])


def test_kernel_names_match_demangled_and_mangled_forms_only_whole() -> None:
    assert launches_kernel("void softmax_kernel(float const*, float*, int)", "softmax_kernel")
    assert launches_kernel("_Z14softmax_kernelPKfPfi", "softmax_kernel")
    assert launches_kernel("_ZN2kw14softmax_kernelEPKfPf", "softmax_kernel")
    assert not launches_kernel("_Z16softmax_kernel_2PKf", "softmax_kernel")
    assert not launches_kernel("void at::native::softmax_kernel_impl<float>(float*)", "softmax_kernel")


def test_linked_kernels_are_shared_out_per_call() -> None:
    own = SimpleNamespace(name="softmax_kernel(float const*, float*, int)", duration=30.0)
    library = SimpleNamespace(name="void at::native::elementwise_kernel<128>()", duration=10.0)
    events = [_event(CALL, 0, 100), _event("kw_own::forward", 10, 20, kernels=[own]),
              _event("aten::add", 30, 40, kernels=[library]), _event(CALL, 200, 300),
              _event("kw_own::forward", 210, 220, kernels=[own])]
    first, second = _kernels_per_call(events)
    assert _device_share(first, ["softmax_kernel"])["own_share"] == 0.75
    assert _device_share(second, ["softmax_kernel"])["own_kernels_seen"] == [own.name]


def test_unlinked_gpu_records_fall_in_the_call_that_launched_them() -> None:
    # A kernel may run after its call's range closed (the range ends at the launch, the sync comes later).
    events = [_event(CALL, 0, 50), _event(CALL, 200, 250), _event("_Z14softmax_kernelPKfPfi", 60, 150, DeviceType.CUDA),
              _event("Memcpy DtoD", 255, 265, DeviceType.CUDA), _event("_Z14softmax_kernelPKfPfi", 270, 300, DeviceType.CUDA)]
    first, second = _kernels_per_call(events)
    assert first == {"_Z14softmax_kernelPKfPfi": 90.0}
    share = _device_share(second, ["softmax_kernel"])
    assert share["own_share"] == 0.75 and share["total_us"] == 40.0


# ------------------------------------------------------------------ CPU: library vs own time, by the real profiler

import math  # noqa: E402

import torch  # noqa: E402
from torch.profiler import record_function  # noqa: E402

from kernelwright.verify.attribution import attribute  # noqa: E402
from kernelwright.verify.policy import load_attribution_policy  # noqa: E402

PREFIX = "kw_own_test::"


def _own(name: str, work):
    """What CountingExtension does around an extension function: a named range under the own prefix."""
    def call(*args):
        with record_function(PREFIX + name):
            return work(*args)
    return call


def _busy(microseconds: float) -> None:
    """Own work no profiler sees as an op (like a C++ loop): pure Python arithmetic for about this long."""
    import time
    end = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < end:
        math.sqrt(2.0)


X = torch.randn(256, 4096)


def test_aten_called_inside_an_own_function_is_library_time() -> None:
    wrapper = _own("softmax", lambda x: torch.softmax(x, dim=-1))
    share = attribute(lambda: wrapper(X), "cpu", [], own_prefix=PREFIX)
    assert share["own_share"] < 0.2 and share["calls"] == 5
    assert list(share["library_ops"]) == ["aten::softmax"] and share["library_shares"]["aten::softmax"] > 0.8


def test_library_ops_count_at_any_depth_and_outside_own_functions() -> None:
    def nested(x):
        with record_function("candidate's own label"):  # a range of the candidate's is transparent
            return x.t().reshape(-1).view(x.shape)  # reshape of a transposed tensor copies: aten::clone under it
    inner = _own("nested", nested)
    square = X[:, :256].contiguous()
    share = attribute(lambda: torch.mm(inner(square), square), "cpu", [], own_prefix=PREFIX)
    assert {"aten::mm", "aten::clone"} <= set(share["library_ops"])
    assert "aten::reshape" not in share["library_ops"] and share["own_share"] < 0.3


def test_allocation_and_views_are_not_library_work() -> None:
    def honest(x):
        out = torch.empty_like(x)
        workspace = torch.empty(2, x.shape[0], dtype=torch.float64)
        _busy(2000)
        del workspace
        return out.view(x.shape).reshape(x.shape).contiguous()
    share = attribute(lambda: _own("honest", honest)(X), "cpu", [], own_prefix=PREFIX)
    assert share["own_share"] == 1.0 and share["library_ops"] == {}
    assert share["own_us"] > 1000


def test_the_allowed_ops_come_from_the_policy() -> None:
    policy = load_attribution_policy()
    assert policy.library_op("aten::softmax") and policy.library_op("aten::_softmax") and policy.library_op("aten::mm")
    assert not policy.library_op("aten::empty") and not policy.library_op("aten::view")
    assert not policy.library_op("kw_own_test::softmax") and not policy.library_op("my_ns::my_kernel")
    strict = policy.model_copy(update={"allowed_ops": [op for op in policy.allowed_ops if op != "aten::empty_like"]})
    allocating = _own("alloc", lambda x: (_busy(500), torch.empty_like(x))[1])
    share = attribute(lambda: allocating(X), "cpu", [], own_prefix=PREFIX, policy=strict)
    assert list(share["library_ops"]) == ["aten::empty_like"]


def test_own_work_beside_a_small_library_call_stays_own() -> None:
    def mostly_own(x):
        _busy(3000)
        return x[0, :64].sum()  # small enough to stay on one thread however busy the machine is
    share = attribute(lambda: _own("mostly_own", mostly_own)(X), "cpu", [], own_prefix=PREFIX)
    assert list(share["library_ops"]) == ["aten::sum"] and share["own_share"] > 0.8


def test_a_range_that_only_looks_own_without_the_secret_prefix_counts_nothing() -> None:
    fake = _own("x", lambda x: x)  # the test prefix, not the one the attribution is told
    share = attribute(lambda: (fake(X), torch.softmax(X, dim=-1))[1], "cpu", [], own_prefix="kw_own_secret::")
    assert share["own_us"] == 0.0 and share["own_share"] == 0.0
