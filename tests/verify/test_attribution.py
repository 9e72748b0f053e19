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
