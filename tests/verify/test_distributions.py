"""The harness's input distributions: shifted and per-row / per-channel scaled draws, the task's own inputs, inf / NaN
inputs where the reference defines its outputs, each within the input's declared domain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernelwright.tasks import cpu_scale_variants, instantiate, load_task
from kernelwright.tasks.instantiate import task_inputs
from kernelwright.verify.compare import compare_outputs
from kernelwright.verify.correctness import _defined
from kernelwright.verify.distributions import (DISTRIBUTIONS, SPECIALS_EACH, TEXT, TIMED, apply_domain, draw, redraw,
                                               seeded_draws, timed_distribution)
from kernelwright.verify.plan import Shape, make_plan
from kernelwright.verify.policy import load_tolerances
from kernelwright.verify.reference_worker import run as run_reference
from kernelwright.verify.reference_worker import same_specials

ROOT = Path(__file__).resolve().parents[2]
LAYER_NORM = load_task(ROOT / "tasks" / "level1" / "8_layer_norm.py")
SOFTMAX = load_task(ROOT / "tasks" / "level1" / "6_softmax.py")


def _generator(seed: int = 3) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_distribution_is_described_and_planned() -> None:
    assert set(TEXT) == set(DISTRIBUTIONS) and set(TIMED) <= set(DISTRIBUTIONS)
    plan = make_plan(5, "cpu", "float32", [Shape(name="a", overrides={}), Shape(name="b", overrides={"n": 1})], False)
    for shape in ("a", "b"):
        assert {t.distribution for t in plan.trials if t.shape == shape and t.purpose == "trial"} == set(DISTRIBUTIONS)


def test_offset_rows_sit_far_from_zero() -> None:
    values = draw(torch.Size((64, 512)), "offset", _generator())
    assert 99.5 < float(values.mean()) < 100.5 and 0.9 < float(values.std()) < 1.1


@pytest.mark.parametrize("distribution, dim", [("rows", -1), ("channels", 1)])
def test_per_row_and_per_channel_scale_and_offset(distribution: str, dim: int) -> None:
    values = draw(torch.Size((8, 16, 256)), distribution, _generator())
    reduce = (2,) if dim == -1 else (0, 2)  # within one row / one channel
    means, stds = values.mean(dim=reduce), values.std(dim=reduce)
    assert float(means.abs().max()) > 30 and float(means.std()) > 20  # offsets differ from row to row
    assert float(stds.max() / stds.min()) > 5  # and so do scales
    assert 0.05 < float(stds.min()) and float(stds.max()) < 20


def test_the_task_distribution_is_the_tasks_own_inputs_at_the_seed() -> None:
    small = cpu_scale_variants(LAYER_NORM)[0].overrides
    raw = task_inputs(LAYER_NORM, small, device="cpu", seed=41)
    again = task_inputs(LAYER_NORM, small, device="cpu", seed=41)
    kept = redraw(raw, "task", _generator(), LAYER_NORM.declarations.domain_of, torch.float32)
    assert torch.equal(kept[0], again[0])
    assert 0.3 < float(kept[0].mean()) < 0.7 and 1.8 < float(kept[0].std()) < 2.2  # torch.randn(...) * 2.0 + 0.5


@pytest.mark.parametrize("domain, kinds", [("real", {"inf", "-inf", "nan"}), ("positive", {"inf", "nan"}),
                                           ("nonnegative", {"inf", "nan"}), ("unit", {"nan"}), ("probability", set())])
def test_specials_put_a_few_inf_and_nan_where_the_domain_admits_them(domain: str, kinds: set[str]) -> None:
    x = redraw([torch.zeros(40, 50)], "specials", _generator(), lambda _: domain, torch.float32)[0]
    found = {"inf": int(torch.isposinf(x).sum()), "-inf": int(torch.isneginf(x).sum()), "nan": int(torch.isnan(x).sum())}
    assert {k for k, n in found.items() if n} == kinds
    assert all(n in (0, SPECIALS_EACH) for n in found.values())
    finite = x[torch.isfinite(x)]
    if domain in ("positive", "nonnegative"):
        assert bool((finite >= 0).all())


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("domain", ["positive", "unit", "probability"])
def test_every_distribution_stays_in_the_declared_domain(distribution: str, domain: str) -> None:
    x = redraw([torch.zeros(6, 30)], distribution, _generator(), lambda _: domain, torch.float64)[0]
    x = x if distribution != "task" else apply_domain(x, domain)  # the task's own values are the task's business
    finite = x[torch.isfinite(x)]
    if domain == "positive":
        assert bool((finite > 0).all())
    elif domain == "unit":
        assert bool((finite.abs() < 1).all())
    else:
        assert torch.allclose(x.sum(-1), torch.ones(6, dtype=torch.float64))
        assert distribution == "task" or float(x.std(-1).min()) > 0  # a shifted row keeps its spread


def test_integer_inputs_are_kept() -> None:
    index = torch.arange(12).reshape(3, 4)
    for distribution in DISTRIBUTIONS:
        kept = redraw([torch.zeros(3, 4), index], distribution, _generator(), lambda _: "real", torch.float32)
        assert kept[1] is index


def test_timed_draws_are_reproducible_and_rotate_their_distribution() -> None:
    template = [torch.zeros(16, 64), torch.arange(3)]
    first = seeded_draws(template, 1234, _generator(), lambda _: "real")
    again = seeded_draws(template, 1234, _generator(99), lambda _: "real")
    assert set(first) == {0} and torch.equal(first[0], again[0])
    picked = {timed_distribution(seed) for seed in range(0, 4096, 37)}
    assert picked == set(TIMED)
    shifted = next(seed for seed in range(4096) if timed_distribution(seed) == "offset")
    assert float(seeded_draws(template, shifted, _generator(), lambda _: "real")[0].mean()) > 90


def test_specials_are_defined_only_where_eager_and_float64_agree() -> None:
    nan, inf = float("nan"), float("inf")
    want = [torch.tensor([1.0, nan, inf], dtype=torch.float64)]
    assert same_specials(want, [torch.tensor([1.1, nan, inf])])
    assert not same_specials(want, [torch.tensor([1.0, nan, 3.0])])  # eager overflowed elsewhere: undefined
    assert not same_specials(want, [torch.tensor([1.0, -inf, inf])])
    assert same_specials(want, [torch.tensor([1.0, nan, 3.0])], [torch.tensor([False, False, True])])
    assert _defined({"finite": False, "defined": True}) and not _defined({"finite": False})


def test_the_reference_keeps_a_softmax_trial_with_inf_and_nan_and_compares_them(tmp_path: Path) -> None:
    small = cpu_scale_variants(SOFTMAX)[0]
    plan = make_plan(13, "cpu", "float32", [Shape(name="small", overrides=small.overrides)], False)
    inputs, trusted = tmp_path / "inputs", tmp_path / "trusted"
    inputs.mkdir(), trusted.mkdir()
    report = run_reference({"task": SOFTMAX.model_dump(), "plan": plan.model_dump(), "inputs_dir": str(inputs),
                            "trusted_dir": str(trusted)})
    trial = next(t for t in plan.trials if t.distribution == "specials")
    facts = report["trials"][trial.id]
    assert facts["finite"] is False and facts["defined"] is True
    expected = torch.load(trusted / f"expected_{trial.id}.pt")
    eager = torch.load(trusted / f"eager_{trial.id}.pt")
    undefined = torch.load(trusted / f"undefined_{trial.id}.pt")
    x = torch.load(inputs / f"in_{trial.id}.pt")[0]
    assert 0 < int(torch.isnan(expected[0]).any(-1).sum()) < expected[0].shape[0]  # some rows, not all
    # a row with +inf is NaN in torch and one-hot in the limit: undefined; a row with NaN is NaN either way
    limit_rows = torch.isposinf(x).any(-1, keepdim=True) & ~torch.isnan(x).any(-1, keepdim=True)
    assert torch.equal(undefined[0].any(-1, keepdim=True), limit_rows) and bool(limit_rows.any())
    policy = load_tolerances()
    assert compare_outputs([eager[0].clone()], expected, eager, "float32", policy, undefined=undefined) == []
    one_hot = torch.where(limit_rows, torch.isposinf(x).float(), eager[0])  # the limit, as an online softmax
    assert compare_outputs([one_hot], expected, eager, "float32", policy, undefined=undefined) == []
    masked = torch.nan_to_num(eager[0], nan=0.0)  # a kernel that assumes finite inputs
    problems = compare_outputs([masked], expected, eager, "float32", policy, undefined=undefined)
    assert [p.reason for p in problems] == ["nonfinite"]


def test_one_pass_variance_passes_centred_rows_and_fails_offset_ones() -> None:
    """E[x^2] - E[x]^2 in float32: within the float32 bounds on normal rows, far outside on mean-100 rows."""
    overrides = cpu_scale_variants(LAYER_NORM)[0].overrides
    built = instantiate(LAYER_NORM, overrides, seed=1)
    norm = built.model.norm
    policy = load_tolerances()

    def one_pass(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = (x * x).mean(-1, keepdim=True) - mean * mean
        return (x - mean) * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias

    verdicts = {}
    for distribution in ("normal", "offset", "rows"):
        x = redraw(built.inputs, distribution, _generator(), LAYER_NORM.declarations.domain_of, torch.float32)[0]
        with torch.no_grad():
            expected = [torch.nn.functional.layer_norm(x.double(), norm.normalized_shape, norm.weight.double(),
                                                       norm.bias.double(), norm.eps)]
            eager = [built.model(x)]
            verdicts[distribution] = compare_outputs([one_pass(x)], expected, eager, "float32", policy)
    assert verdicts["normal"] == []
    assert verdicts["offset"] and verdicts["rows"]
