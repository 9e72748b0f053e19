"""Roofline floor and hardware sheet: FLOP and byte counts, GPU table matching, impossible-time detection."""

from pathlib import Path

import pytest
import torch

from kernelwright.tasks import load_task
from kernelwright.verify.roofline import (
    Work,
    below_floor,
    count_effective_flops,
    count_work,
    cpu_sheet,
    gpu_entry,
    gpu_sheet,
    hardware_sheet,
    load_hardware,
    roofline_floor,
)

ROOT = Path(__file__).resolve().parents[2]
LEVEL1 = ROOT / "tasks" / "level1"

DIAG_TASK = '''
import torch
import torch.nn as nn

n = 64
m = 48


class Model(nn.Module):
    def forward(self, a, b):
        return torch.diag(a) @ b


def get_inputs():
    return [torch.randn(n), torch.randn(n, m)]


def get_init_inputs():
    return []
'''

LINEAR_TASK = '''
import torch
import torch.nn as nn

DTYPE = "bfloat16"
batch = 8
features = 32
out = 16


class Model(nn.Module):
    def __init__(self, features, out):
        super().__init__()
        self.linear = nn.Linear(features, out)

    def forward(self, x):
        return self.linear(x)


def get_inputs():
    return [torch.randn(batch, features)]


def get_init_inputs():
    return [features, out]
'''


def _task(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_task(path)


def test_matmul_flops_are_2mnk_and_bytes_are_inputs_plus_output() -> None:
    task = load_task(LEVEL1 / "10_square_matmul.py")
    n = task.declarations.variants["small"]["n"]
    work = count_work(task, {"n": n})
    assert work.flops == 2 * n * n * n
    assert work.input_bytes == 2 * n * n * 4 and work.output_bytes == n * n * 4 and work.param_bytes == 0
    # the nominal size is counted on the meta device: nothing of 3 x 64 MiB is allocated
    nominal = count_work(task)
    assert nominal.flops == 2 * 4096**3 and nominal.bytes == 3 * 4096 * 4096 * 4


def test_elementwise_task_has_no_flops_and_moves_input_plus_output() -> None:
    task = load_task(LEVEL1 / "1_gelu.py")
    sizes = task.declarations.variants["small"]
    work = count_work(task, sizes)
    elements = sizes["rows"] * sizes["cols"]
    assert work.flops == 0
    assert work.input_bytes == elements * 4 and work.output_bytes == elements * 4 and work.bytes == 8 * elements


def test_parameters_count_once_in_the_task_dtype(tmp_path: Path) -> None:
    work = count_work(_task(tmp_path, "linear", LINEAR_TASK))
    assert work.dtype == "bfloat16"
    assert work.param_bytes == (32 * 16 + 16) * 2
    assert work.input_bytes == 8 * 32 * 2 and work.output_bytes == 8 * 16 * 2
    assert work.flops == 2 * 8 * 32 * 16


def test_effective_flops_discount_structural_zeros(tmp_path: Path) -> None:
    task = _task(tmp_path, "diag", DIAG_TASK)
    assert count_work(task).flops == 2 * 64 * 64 * 48  # what the reference as written computes
    model = torch.nn.Module()
    model.forward = lambda a, b: torch.diag(a) @ b  # type: ignore[method-assign]
    raw, effective = count_effective_flops(model, [torch.randn(64), torch.randn(64, 48)])
    assert raw == 2 * 64 * 64 * 48
    assert effective == pytest.approx(2 * 64 * 48, rel=0.05)  # one nonzero per row of diag(a)


def test_gpu_names_match_the_most_specific_entry() -> None:
    assert gpu_entry("NVIDIA H100 80GB HBM3")[0] == "h100_sxm"
    assert gpu_entry("NVIDIA H100 PCIe")[0] == "h100_pcie"
    assert gpu_entry("NVIDIA H100 NVL")[0] == "h100_nvl"
    assert gpu_entry("NVIDIA H200")[0] == "h200"
    assert gpu_entry("NVIDIA A100-SXM4-80GB")[0] == "a100_80gb"
    assert gpu_entry("NVIDIA GeForce RTX 4090")[0] == "rtx_4090"
    assert gpu_entry("NVIDIA L40S")[0] == "l40s"
    assert gpu_entry("NVIDIA B200")[0] == "b200"
    assert gpu_entry("NVIDIA GB200")[0] == "gb200"
    assert gpu_entry("Tesla T4") is None


def test_every_gpu_entry_is_complete_and_dense_peaks_are_ordered() -> None:
    for key, entry in load_hardware()["gpu"].items():
        for field in ("bandwidth_gbs", "fp32_tflops", "tf32_tflops", "fp16_tflops", "bf16_tflops", "fp64_tflops",
                      "sm_count", "l2_mib", "smem_per_sm_kib", "registers_per_sm", "match"):
            assert field in entry, (key, field)
        assert entry["fp16_tflops"] >= entry["tf32_tflops"] >= entry["fp32_tflops"] * 0.99, key


def test_queried_device_values_replace_the_table() -> None:
    sheet = gpu_sheet("NVIDIA H200", {"sm_count": 132, "l2_bytes": 60 * 2**20, "smem_per_sm_bytes": 233472})
    assert sheet["matched"] == "h200" and sheet["bandwidth_gbs"] == 4800
    assert sheet["l2_bytes"] == 60 * 2**20 and sheet["smem_per_sm_bytes"] == 233472
    unknown = gpu_sheet("Tesla T4", {"sm_count": 40})
    assert unknown["matched"] is None and unknown["sm_count"] == 40 and "no roofline" in unknown["note"]


def test_cpu_sheet_is_generous_and_describes_the_machine() -> None:
    sheet = cpu_sheet()
    assert sheet["cores"] >= 1 and sheet["vector_width_bits"] in (128, 256, 512)
    # at least one FMA-capable vector lane per core at 5 GHz: far above anything a real loop sustains
    assert sheet["peak_tflops"]["float32"] * 1e12 >= sheet["cores"] * 5e9 * 2 * 4
    assert sheet["bandwidth_gbs"] >= 100
    assert hardware_sheet("cpu")["device"] == "cpu"


def test_cuda_sheet_without_a_gpu_says_so() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    sheet = hardware_sheet("cuda")
    assert sheet["name"] is None and "no CUDA device" in sheet["note"]


def test_too_fast_is_invalid_and_honest_is_not() -> None:
    sheet = gpu_sheet("NVIDIA H100 80GB HBM3", {"l2_bytes": 50 * 2**20})
    n = 4096
    gemm = Work(flops=2 * n**3, effective_flops=2 * n**3, input_bytes=2 * n * n * 4, output_bytes=n * n * 4,
                param_bytes=0)
    floor = roofline_floor(gemm, sheet, dtype="float32")
    # fp32 without TF32: half the TF32 tensor peak (split-TF32 emulation), with a 2x structure slack
    assert floor.bound == "compute"
    assert floor.floor_s == pytest.approx(2 * n**3 / (494.7e12 / 2) / 2)
    honest = 2 * n**3 / 60e12  # a very good fp32 GEMM at 60 TFLOP/s
    assert not below_floor(honest, floor)
    assert below_floor(honest / 20, floor)  # a fake 20x
    # a stream-injection style fake on a memory-bound op: 1 GiB in + 1 GiB out in 0.05 ms
    copy = Work(flops=0, effective_flops=0, input_bytes=2**30, output_bytes=2**30, param_bytes=0)
    copy_floor = roofline_floor(copy, sheet, dtype="float32")
    assert copy_floor.bound == "memory"
    assert below_floor(0.05e-3, copy_floor)
    assert not below_floor(2 * 2**30 / 3.0e12, copy_floor)  # 3.0 TB/s of 3.35: honest and fast


def test_graph_replay_of_an_l2_resident_working_set_assumes_l2_bandwidth() -> None:
    sheet = gpu_sheet("NVIDIA H200", {"l2_bytes": 60 * 2**20})
    small = Work(flops=0, effective_flops=0, input_bytes=4 * 2**20, output_bytes=4 * 2**20, param_bytes=0)
    events = roofline_floor(small, sheet, method="cuda_events")
    graph = roofline_floor(small, sheet, method="cuda_graph")
    assert events.bytes_counted == 4 * 2**20  # the output fits in L2: only the input must come from DRAM
    assert events.floor_s == pytest.approx(4 * 2**20 / 4800e9)
    assert graph.bytes_counted == 8 * 2**20
    assert graph.floor_s == pytest.approx(8 * 2**20 / (4800e9 * sheet["l2_bandwidth_factor"]))


def test_unknown_peaks_give_no_floor() -> None:
    work = Work(flops=10**12, effective_flops=10**12, input_bytes=10**9, output_bytes=10**9, param_bytes=0)
    floor = roofline_floor(work, gpu_sheet("Tesla T4"))
    assert floor.floor_s == 0 and floor.bound == "none"
    assert not below_floor(1e-12, floor)
    raw_only = Work(flops=10**12, input_bytes=10, output_bytes=10, param_bytes=0)  # effective FLOPs unknown
    assert roofline_floor(raw_only, cpu_sheet()).compute_s == 0
