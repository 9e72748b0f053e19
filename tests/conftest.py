from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_TASKS = ROOT / "tests" / "fixtures" / "tasks"


@pytest.fixture
def fixture_tasks() -> Path:
    return FIXTURE_TASKS
