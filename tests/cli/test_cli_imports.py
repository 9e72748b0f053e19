"""Building the `kernelwright` command line loads no agents: `--help` and `db info` do not pay for them."""

import subprocess
import sys


def test_building_the_app_leaves_the_agents_unloaded() -> None:
    code = ("import sys, kernelwright.cli.app; "
            "print(sorted(m for m in sys.modules if m.startswith('kernelwright.agents.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip()
    assert "kernelwright.agents.runner" not in loaded
    assert loaded == "[]"
