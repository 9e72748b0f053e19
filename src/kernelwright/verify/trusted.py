"""Running a trusted worker (the task's reference): its own process, a time limit, no secrets in its environment."""

from __future__ import annotations

import os
import subprocess
import sys

from ..sandbox.isolation import is_secret_name, lane_env, load_limits, load_policy


class ReferenceFailure(Exception):
    """The task's own reference failed: a task problem, not the candidate's."""


def run_trusted(module: str, *args: str, what: str, lane: str | None = None) -> None:
    """Runs `python -m module args` under the "reference" limits, on `lane`'s GPU where one is given; raises
    ReferenceFailure naming `what`."""
    limits = load_limits("reference")
    deny = load_policy().env.deny
    env = {k: v for k, v in os.environ.items() if not is_secret_name(k, deny)} | lane_env(lane)
    try:
        # Its own session: a Ctrl-C meant for the orchestrator must not kill the reference mid-run and turn an
        # interrupted verification into a task failure.
        proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                              timeout=limits.timeout_s, env=env, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise ReferenceFailure(f"{what} did not finish within {limits.timeout_s:g} s") from None
    if proc.returncode != 0:
        raise ReferenceFailure(f"{what} failed: {root_cause(proc.stderr or proc.stdout)}")


_CHAINED = ("During handling of the above exception, another exception occurred:",
            "The above exception was the direct cause of the following exception:")


def root_cause(output: str) -> str:
    """The error that started a traceback chain, not the last one printed: a failed write inside torch.save
    shows last as a cleanup error ("unexpected pos") that hides the cause ("file write failed")."""
    first = output
    for marker in _CHAINED:
        first = first.split(marker, 1)[0]
    lines = [line for line in first.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
