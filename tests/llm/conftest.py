import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from fake_llm import fake_llm  # noqa: E402,F401  (a fixture)

from kernelwright.llm import CallContext, Message, RetryPolicy  # noqa: E402

_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_CUSTOM_HEADERS", "OPENAI_ADMIN_KEY", "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_PROFILE",
        "KERNELWRIGHT_PRICES")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No key, base URL or price file from the developer's shell; never a proxy for 127.0.0.1."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class Sleeps(list):
    """An injected sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(attempts=4, base_s=0.01, max_wait_s=5.0)


@pytest.fixture
def context() -> CallContext:
    return CallContext(run_id="run-1", role="coder", purpose="seed", task_hash="t" * 64, task="matmul")


@pytest.fixture
def messages() -> list[Message]:
    return [Message(role="system", content="You write CUDA kernels."),
            Message(role="user", content="Write a fast matmul.")]
