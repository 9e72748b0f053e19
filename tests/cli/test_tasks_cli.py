import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kernelwright.cli import app

runner = CliRunner()


def test_list_json_has_tasks_and_errors(fixture_tasks: Path) -> None:
    result = runner.invoke(app, ["tasks", "list", str(fixture_tasks / "tree"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["errors"] == []
    rows = {row["name"]: row for row in payload["tasks"]}
    assert set(rows) == {"1_scaled_relu", "1_linear_gelu", "2_heads_split"}
    relu = rows["1_scaled_relu"]
    assert (relu["level"], relu["dtype"], relu["param_count"], relu["variants"]) == (1, "float16", 0, ["small"])
    assert relu["inputs"] == [{"index": 0, "kind": "tensor", "shape": [64, 48], "dtype": "float32"}]
    assert len(relu["hash"]) == 64 and relu["path"].endswith("1_scaled_relu.py")


def test_list_reports_the_broken_file_in_one_line_and_lists_the_rest(fixture_tasks: Path) -> None:
    # A real process, as a user runs it: no traceback anywhere, exit code 1 because of the errors.
    proc = subprocess.run(
        [sys.executable, "-m", "kernelwright", "tasks", "list", str(fixture_tasks / "broken")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "1_good" in proc.stdout and "1 tasks, 3 errors" in proc.stdout
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 3
    assert any("4_inputs_raise.py: get_inputs() raised ValueError: no inputs today" in line for line in error_lines)


def test_list_json_stays_valid_when_a_task_prints(fixture_tasks: Path) -> None:
    result = runner.invoke(app, ["tasks", "list", str(fixture_tasks / "special" / "cuda_inputs.py"), "--json"])
    assert json.loads(result.stdout)["tasks"][0]["name"] == "cuda_inputs"


def test_list_json_errors_for_broken_folder(fixture_tasks: Path) -> None:
    result = runner.invoke(app, ["tasks", "list", str(fixture_tasks / "broken"), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [row["name"] for row in payload["tasks"]] == ["1_good"]
    assert {Path(e["path"]).name for e in payload["errors"]} == {"2_syntax.py", "3_no_model.py", "4_inputs_raise.py"}


def test_show_prints_source_specs_and_variants(fixture_tasks: Path) -> None:
    result = runner.invoke(
        app, ["tasks", "show", "level2/heads_split", "--tasks-dir", str(fixture_tasks / "tree")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "def forward(self, x):" in result.stdout
    assert "float32[15, 256]" in result.stdout  # the derived odd variant
    assert "derived" in result.stdout


def test_show_json_variants(fixture_tasks: Path) -> None:
    result = runner.invoke(app, ["tasks", "show", str(fixture_tasks / "tree" / "level1" / "1_scaled_relu.py"), "--json"])
    payload = json.loads(result.stdout)
    assert payload["task"]["declarations"]["dtype"] == "float16"
    assert payload["variants"]["variants"][0]["specs"]["inputs"][0]["shape"] == [5, 7]


def test_show_unknown_task_is_one_clear_line(fixture_tasks: Path) -> None:
    result = runner.invoke(app, ["tasks", "show", "nope", "--tasks-dir", str(fixture_tasks / "tree")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no task 'nope' (give a file path, levelN/NAME or NAME)"


def test_show_broken_task_is_one_clear_line(fixture_tasks: Path) -> None:
    result = runner.invoke(app, ["tasks", "show", str(fixture_tasks / "broken" / "2_syntax.py")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: syntax error at line 3: expected ':'"
