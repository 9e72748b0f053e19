import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelwright.tasks import find_task, load_task, load_tasks, TaskNotFound, TaskSourceError
from kernelwright.tasks import loader
from kernelwright.tasks.source import content_hash


def test_tree_of_level_folders_infers_level_and_name(fixture_tasks: Path) -> None:
    result = load_tasks([fixture_tasks / "tree"])
    assert result.errors == []
    assert [(t.level, t.name) for t in result.tasks] == [(1, "1_scaled_relu"), (2, "1_linear_gelu"), (2, "2_heads_split")]


def test_task_reads_declarations_constants_and_specs(fixture_tasks: Path) -> None:
    path = fixture_tasks / "tree" / "level1" / "1_scaled_relu.py"
    task = load_task(path)
    assert task.hash == content_hash(path.read_text())
    assert task.docstring == "ReLU of a scaled input."
    assert task.constants == {"rows": 64, "cols": 48}
    decl = task.declarations
    assert (decl.dtype, decl.tolerance.atol, decl.tolerance.rtol) == ("float16", 0.01, None)
    assert decl.variants == {"small": {"rows": 5, "cols": 7}}
    assert task.specs.inputs[0].shape == [64, 48] and task.specs.inputs[0].dtype == "float32"
    assert task.specs.init_inputs[0].value == "2.5"
    assert task.specs.param_count == 0


def test_parameter_count_comes_from_the_model(fixture_tasks: Path) -> None:
    task = load_task(fixture_tasks / "tree" / "level2" / "1_linear_gelu.py")
    assert task.specs.param_count == 64 * 40 + 40


def test_one_broken_file_among_good_ones_gives_one_line_each(fixture_tasks: Path) -> None:
    result = load_tasks([fixture_tasks / "broken"])
    assert [t.name for t in result.tasks] == ["1_good"]
    messages = {Path(e.path).name: e.message for e in result.errors}
    assert messages == {
        "2_syntax.py": "syntax error at line 3: expected ':'",
        "3_no_model.py": "defines no class Model (a KernelBench task needs Model, get_inputs, get_init_inputs)",
        "4_inputs_raise.py": "get_inputs() raised ValueError: no inputs today",
    }
    assert all("\n" not in e.line() for e in result.errors)


@pytest.mark.parametrize(
    "original, replacement, expected",
    [
        ('DTYPE = "float16"', 'DTYPE = "float8"', "invalid declaration DTYPE"),
        ('"cols": 7}', '"cols": "seven"}', "invalid declaration VARIANTS"),
        ('TOLERANCE = {"atol": 0.01}', "TOLERANCE = make_tolerance()", "TOLERANCE must be a literal value"),
        ('INPUT_DOMAIN = {0: "real"}', 'INPUT_DOMAIN = "complex"', "invalid declaration INPUT_DOMAIN"),
    ],
)
def test_bad_declaration_is_a_clear_error(
    tmp_path: Path, fixture_tasks: Path, original: str, replacement: str, expected: str
) -> None:
    source = (fixture_tasks / "tree" / "level1" / "1_scaled_relu.py").read_text()
    assert original in source
    (tmp_path / "t.py").write_text(source.replace(original, replacement))
    with pytest.raises(TaskSourceError, match=expected):
        load_task(tmp_path / "t.py")


def test_variant_naming_an_unknown_constant_is_reported(tmp_path: Path, fixture_tasks: Path) -> None:
    from kernelwright.tasks import task_variants

    source = (fixture_tasks / "tree" / "level1" / "1_scaled_relu.py").read_text()
    (tmp_path / "t.py").write_text(source.replace('{"rows": 5, "cols": 7}', '{"rowz": 5}'))
    report = task_variants(load_task(tmp_path / "t.py"))
    assert report.variants[0].specs is None
    assert "unknown integer constants: rowz" in report.variants[0].note


def test_huge_nominal_inputs_are_never_allocated(fixture_tasks: Path) -> None:
    # 2 x 40 GB of inputs and a 1.6 GB weight: a separate process reports its own peak memory.
    script = textwrap.dedent(
        f"""
        import resource
        from pathlib import Path
        from kernelwright.tasks import load_task
        task = load_task(Path({str(fixture_tasks / "special" / "huge.py")!r}))
        print(task.specs.inputs[0].shape, task.specs.param_count, task.specs.input_bytes())
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    shapes, peak_kb = out.stdout.strip().splitlines()
    assert shapes == f"[100000, 100000] {100_000 * 4096 + 4096} {2 * 100_000 * 100_000 * 4}"
    assert int(peak_kb) < 1_500_000


def test_explicit_cuda_inputs_and_prints_are_handled_without_a_gpu(fixture_tasks: Path, capsys) -> None:
    task = load_task(fixture_tasks / "special" / "cuda_inputs.py")
    assert [(s.shape, s.dtype) for s in task.specs.inputs] == [([1024], "float32"), ([1024], "float16")]
    assert capsys.readouterr().out == ""


def test_missing_package_is_a_note_not_an_error(fixture_tasks: Path) -> None:
    task = load_task(fixture_tasks / "special" / "needs_package.py")
    assert task.specs is None
    assert task.specs_note == "needs Python package 'not_a_real_package_kw', which is not installed"


def test_task_that_hangs_is_stopped(fixture_tasks: Path, monkeypatch) -> None:
    monkeypatch.setattr(loader, "TASK_TIME_LIMIT_S", 1.0)
    result = load_tasks([fixture_tasks / "special" / "hangs.py"])
    assert result.tasks == []
    assert result.errors[0].message == "running the module, get_inputs() or Model() took longer than 1 s"


def test_missing_path_is_an_error_line(tmp_path: Path) -> None:
    result = load_tasks([tmp_path / "nope"])
    assert result.errors[0].message == "no such file or folder"


def test_same_file_twice_is_listed_once(fixture_tasks: Path) -> None:
    tree = fixture_tasks / "tree"
    result = load_tasks([tree, tree / "level1" / "1_scaled_relu.py"])
    assert len(result.tasks) == 3


def test_level_tree_ignores_other_folders_and_orders_numerically(tmp_path: Path, fixture_tasks: Path) -> None:
    good = fixture_tasks / "tree" / "level2" / "1_linear_gelu.py"
    for level, names in {"level10": ["1_a.py"], "level2": ["10_b.py", "2_c.py"]}.items():
        (tmp_path / level).mkdir()
        for name in names:
            shutil.copy(good, tmp_path / level / name)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "helper.py").write_text("print('not a task')\n")
    result = load_tasks([tmp_path])
    assert [(t.level, t.name) for t in result.tasks] == [(2, "2_c"), (2, "10_b"), (10, "1_a")]


def test_find_task_by_path_ref_and_name(fixture_tasks: Path) -> None:
    roots = [fixture_tasks / "tree"]
    assert find_task("level2/2_heads_split", roots).name == "2_heads_split"
    assert find_task("heads_split", roots).level == 2
    assert find_task(str(fixture_tasks / "tree" / "level1" / "1_scaled_relu.py"), roots).level == 1
    with pytest.raises(TaskNotFound):
        find_task("level9/nothing", roots)


def test_model_reading_a_small_tensor_value_while_built_still_gets_specs(fixture_tasks: Path) -> None:
    # The 4 x 4096^2 weights stay on meta; only the 4-element schedule is made for real.
    task = load_task(fixture_tasks / "special" / "item_in_init.py")
    assert task.specs_note is None
    assert task.specs.param_count == 4 * (4096 * 4096 + 4096)
