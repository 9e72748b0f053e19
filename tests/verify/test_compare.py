import torch

from kernelwright.tasks.models import Tolerance
from kernelwright.verify.compare import compare_outputs
from kernelwright.verify.policy import load_tolerances

POLICY = load_tolerances()


def _gemm(dtype: torch.dtype, k: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, k, generator=generator)
    b = torch.randn(k, 48, generator=generator)
    reference = a.to(dtype).double() @ b.to(dtype).double()  # the harness rounds inputs to the task dtype first
    return (a.to(dtype) @ b.to(dtype)).float() if dtype != torch.float32 else a @ b, reference


def test_fp32_result_with_another_summation_order_passes() -> None:
    eager, reference = _gemm(torch.float32)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, 1024, generator=generator)
    b = torch.randn(1024, 48, generator=generator)
    chunked = sum(a[:, i:i + 128] @ b[i:i + 128] for i in range(0, 1024, 128))  # another summation order
    assert not torch.equal(chunked, eager)
    assert compare_outputs([chunked], [reference], [eager], "float32", POLICY) == []


def test_one_precision_step_lower_fails_an_fp32_task() -> None:
    eager, reference = _gemm(torch.float32)
    for lower in (torch.float16, torch.bfloat16):
        computed_low, _ = _gemm(lower)
        problems = compare_outputs([computed_low], [reference], [eager], "float32", POLICY)
        assert problems and problems[0].reason in ("elementwise", "frobenius")


def test_bf16_rounding_of_an_fp16_task_fails() -> None:
    eager, reference = _gemm(torch.float16)
    eager = eager.half()
    rounded = eager.to(torch.bfloat16).half()
    problems = compare_outputs([rounded], [reference], [eager], "float16", POLICY)
    assert problems and problems[0].max_abs_error > 0


def test_zeros_fail_even_when_every_reference_value_is_tiny() -> None:
    x = torch.randn(4, 393216, generator=torch.Generator().manual_seed(1))
    reference = torch.softmax(x.double(), -1)
    eager = torch.softmax(x, -1)
    assert float(reference.max()) < 1e-3
    [problem] = compare_outputs([torch.zeros_like(eager)], [reference], [eager], "float32", POLICY)
    assert problem.reason == "elementwise" and problem.mismatches == eager.numel()


def test_nan_where_reference_is_finite_is_reported_with_location() -> None:
    eager = torch.ones(3, 5)
    candidate = eager.clone()
    candidate[1, 2] = float("nan")
    [problem] = compare_outputs([candidate], [eager.double()], [eager], "float32", POLICY)
    assert problem.reason == "nonfinite" and problem.first_mismatch == [1, 2]


def test_all_nan_output_is_called_unwritten() -> None:
    eager = torch.ones(3, 5)
    [problem] = compare_outputs([torch.full_like(eager, float("nan"))], [eager.double()], [eager], "float32", POLICY)
    assert "was the output ever written" in problem.detail


def test_reference_nan_is_not_a_wildcard() -> None:
    eager = torch.tensor([1.0, float("nan"), 2.0])
    candidate = torch.tensor([1.0, 5.0, 2.0])
    [problem] = compare_outputs([candidate], [eager.double()], [eager], "float32", POLICY)
    assert problem.reason == "nonfinite"


def test_evidence_names_the_largest_error() -> None:
    eager = torch.arange(12, dtype=torch.float32).reshape(3, 4) + 1
    candidate = eager.clone()
    candidate[2, 1] += 0.5
    [problem] = compare_outputs([candidate], [eager.double()], [eager], "float32", POLICY)
    assert problem.max_error_at == [2, 1] and problem.first_mismatch == [2, 1]
    assert abs(problem.max_abs_error - 0.5) < 1e-6 and problem.mismatches == 1


def test_shape_dtype_count_and_integer_outputs_are_exact() -> None:
    eager = torch.ones(2, 3)
    assert compare_outputs([eager.T], [eager.double()], [eager], "float32", POLICY)[0].reason == "shape"
    assert compare_outputs([eager.double()], [eager.double()], [eager], "float32", POLICY)[0].reason == "dtype"
    assert compare_outputs([eager, eager], [eager.double()], [eager], "float32", POLICY)[0].reason == "count"
    labels = torch.tensor([3, 1, 2])
    assert compare_outputs([labels], [labels], [labels], "float32", POLICY) == []
    assert compare_outputs([torch.tensor([3, 1, 0])], [labels], [labels], "float32", POLICY)[0].reason == "integer"


def test_task_tolerance_override_loosens_the_bound() -> None:
    eager = torch.ones(10)
    candidate = eager + 5e-3
    assert compare_outputs([candidate], [eager.double()], [eager], "float32", POLICY)
    loose = Tolerance(atol=1e-2, rtol=1e-2)
    assert compare_outputs([candidate], [eager.double()], [eager], "float32", POLICY, loose) == []


def test_a_streamed_comparison_places_errors_across_slices(monkeypatch) -> None:
    import kernelwright.verify.compare as compare

    eager = torch.arange(1, 61, dtype=torch.float32).reshape(6, 10)
    candidate = eager.clone()
    candidate[3, 4] += 0.25  # slice 4 of 8-element slices
    candidate[5, 9] += 0.5   # the last, partial slice
    monkeypatch.setattr(compare, "CHUNK_CPU", 8)
    [problem] = compare_outputs([candidate], [eager.double()], [eager], "float32", POLICY, device="cpu")
    assert problem.first_mismatch == [3, 4] and problem.max_error_at == [5, 9] and problem.mismatches == 2
    unwritten = eager.clone()
    unwritten[4, 3] = float("nan")
    [problem] = compare_outputs([unwritten], [eager.double()], [eager], "float32", POLICY)
    assert problem.reason == "nonfinite" and problem.first_mismatch == [4, 3]
    assert compare_outputs([eager.clone()], [eager.double()], [eager], "float32", POLICY) == []


def test_an_eager_overflow_does_not_widen_the_bounds_to_infinity() -> None:
    reference = torch.tensor([1.0, 2.0, 70000.0], dtype=torch.float64)
    eager = torch.tensor([1.0, 2.0, float("inf")], dtype=torch.float16)  # the task's own fp16 result overflowed
    candidate = torch.tensor([1.0, 3.0, 65504.0], dtype=torch.float16)
    problems = compare_outputs([candidate], [reference], [eager], "float16", POLICY)
    assert problems and problems[0].max_error_at in ([1], [2])
