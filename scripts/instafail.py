"""pytest plugin for GPU-box runs: prints each failure's report the moment the test ends, so a device call
cut short by its time limit still shows why the tests that ran failed. `-p instafail` with scripts/ on sys.path."""

from __future__ import annotations

import sys

import pytest


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        sys.stdout.write(f"\n===== FAILED {report.nodeid} ({report.when}, {report.duration:.1f} s)\n"
                         f"{report.longreprtext}\n")
        for name, content in report.sections:
            sys.stdout.write(f"----- {name}\n{content[-6000:]}\n")
        sys.stdout.flush()
    elif report.when == "call":
        sys.stdout.write(f"\n===== {report.outcome.upper()} {report.nodeid} ({report.duration:.1f} s)\n")
        sys.stdout.flush()
