"""`kernelwright run` and `show` on bad input: one clear line, nothing started, nothing stored lost."""

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from fake_llm import Failure, FakeLLMServer  # noqa: E402

from kernelwright.cli import app  # noqa: E402
from kernelwright.store import Store  # noqa: E402

runner = CliRunner()
TASK = str(Path(__file__).resolve().parents[2] / "tasks" / "level1" / "1_gelu.py")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERNELWRIGHT_DB", str(tmp_path / "kw.db"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert lines[0].startswith("error:"), result.output
    return " ".join(lines)


def agent_runs(tmp_path) -> int:
    if not (tmp_path / "kw.db").exists():
        return 0
    with Store(tmp_path / "kw.db", readonly=True) as store:
        return len(store.runs(kind="agent"))


def test_unknown_provider(tmp_path):
    message = one_error_line(runner.invoke(app, ["run", TASK, "--model", "bogus/x", "--device", "cpu"]))
    assert "openai/MODEL, anthropic/MODEL, scripted/PATH or replay/RUN_ID" in message
    assert agent_runs(tmp_path) == 0


def test_missing_api_key(tmp_path):
    message = one_error_line(runner.invoke(app, ["run", TASK, "--model", "anthropic/claude-x", "--device", "cpu"]))
    assert "ANTHROPIC_API_KEY" in message
    assert agent_runs(tmp_path) == 0


@pytest.mark.parametrize("setting, expected", [
    ({"models_failure": Failure(401, message="invalid x-api-key")}, "rejected the API key"),
    ({"known_models": {"gpt-other"}}, "unknown model"),
])
def test_bad_key_or_unknown_model_stop_before_any_work(tmp_path, monkeypatch, setting, expected):
    with FakeLLMServer() as server:
        for name, value in setting.items():
            setattr(server, name, value)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        result = runner.invoke(app, ["run", TASK, "--model", "openai/gpt-x", "--base-url", server.openai_base_url,
                                     "--device", "cpu"])
        assert expected in one_error_line(result)
        assert server.completions == []  # stopped at the pre-flight check
    assert agent_runs(tmp_path) == 0


def test_no_task_or_model():
    assert "give one or more tasks and --model" in one_error_line(runner.invoke(app, ["run", "--device", "cpu"]))


def test_unknown_task(tmp_path):
    result = runner.invoke(app, ["run", "no_such_task", "--model", "scripted/demo", "--device", "cpu"])
    assert "no task 'no_such_task'" in one_error_line(result)


def test_resume_and_show_of_a_missing_run(tmp_path):
    assert "no run 'nope' to resume" in one_error_line(runner.invoke(app, ["run", "--resume", "nope"]))
    assert "no run 'nope'" in one_error_line(runner.invoke(app, ["show", "nope"]))


def test_replay_of_a_missing_run(tmp_path):
    Store(tmp_path / "kw.db").close()
    message = one_error_line(runner.invoke(app, ["run", TASK, "--model", "replay/nope", "--device", "cpu"]))
    assert "nope" in message
