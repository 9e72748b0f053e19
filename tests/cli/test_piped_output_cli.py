"""Output that is not a terminal: `verify` prints each phase on a line of its own as it starts, and tables keep
their natural width."""

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kernelwright.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_piped_verify_prints_one_line_per_phase(tmp_path, build_cache_root):
    env = {**os.environ, "KERNELWRIGHT_DB": str(tmp_path / "kw.db"), "KERNELWRIGHT_CACHE": str(build_cache_root),
           "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "kernelwright", "verify", "level1/gelu", "bench/candidates/cpu_gelu.py",
                           "--device", "cpu", "--no-timing"], env=env, cwd=ROOT, text=True, capture_output=True,
                          timeout=600)
    phases = [line.rsplit(": ", 1)[-1] for line in done.stdout.splitlines()
              if "verifying cpu_gelu.py against level1/1_gelu: " in line]
    assert phases[:2] == ["build", "correctness"], done.stdout + done.stderr[-2000:]


def test_piped_tables_are_not_cut_to_80_columns(tmp_path):
    result = CliRunner().invoke(app, ["tasks", "list", str(ROOT / "tasks" / "level2")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "16_layernorm_qkv_split_heads" in result.stdout and "…" not in result.stdout
    assert max(map(len, result.stdout.splitlines())) > 80
