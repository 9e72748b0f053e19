import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_TASKS = ROOT / "tests" / "fixtures" / "tasks"


@pytest.fixture
def fixture_tasks() -> Path:
    return FIXTURE_TASKS


@pytest.fixture(scope="session")
def build_cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build cache for the whole session: its precompiled header and builds serve every test.
    KERNELWRIGHT_TEST_BUILD_CACHE keeps it across sessions."""
    root = os.environ.get("KERNELWRIGHT_TEST_BUILD_CACHE")
    return Path(root) if root else tmp_path_factory.mktemp("builds")
