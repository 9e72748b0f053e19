from pathlib import Path

from kernelwright.tasks import load_task, specs_at, task_variants


def test_declared_variants_reexecute_the_module_with_new_constants(fixture_tasks: Path) -> None:
    task = load_task(fixture_tasks / "tree" / "level1" / "1_scaled_relu.py")
    report = task_variants(task)
    [small] = report.variants
    assert (small.name, small.origin) == ("small", "declared")
    assert small.specs.inputs[0].shape == [5, 7]
    assert small.specs.outputs[0].shape == [5, 7]


def test_derived_variants_keep_only_shapes_the_reference_accepts(fixture_tasks: Path) -> None:
    # features must stay divisible by heads: the odd variant keeps features and changes batch only.
    task = load_task(fixture_tasks / "tree" / "level2" / "2_heads_split.py")
    variants = {v.name: v for v in task_variants(task).variants}
    assert variants["odd"].overrides == {"batch_size": 15}
    assert variants["odd"].specs.outputs[0].shape == [15, 8]
    assert variants["batch"].overrides == {"batch_size": 9}
    assert variants["small"].overrides == {}
    assert all(v.origin == "derived" for v in variants.values())


def test_derived_odd_variant_changes_every_free_size(fixture_tasks: Path) -> None:
    task = load_task(fixture_tasks / "tree" / "level2" / "1_linear_gelu.py")
    variants = {v.name: v for v in task_variants(task).variants}
    assert variants["odd"].overrides == {"batch_size": 31, "in_features": 63, "out_features": 39}
    assert variants["odd"].specs.param_count == 63 * 39 + 39


def test_small_variant_shrinks_a_huge_task_to_the_cpu_budget(fixture_tasks: Path) -> None:
    task = load_task(fixture_tasks / "special" / "huge.py")
    variants = {v.name: v for v in task_variants(task).variants}
    small = variants["small"]
    assert set(small.overrides) == {"rows", "cols"}
    elements = small.specs.param_count + sum(
        s.shape[0] * s.shape[1] for s in small.specs.inputs + small.specs.outputs
    )
    assert elements <= 1 << 18
    assert specs_at(task, small.overrides).inputs[0].shape == small.specs.inputs[0].shape


def test_task_needing_a_missing_package_gets_no_variants(fixture_tasks: Path) -> None:
    report = task_variants(load_task(fixture_tasks / "special" / "needs_package.py"))
    assert report.variants == []
