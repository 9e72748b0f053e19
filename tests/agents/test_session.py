"""Resolving run task arguments to the task file paths a run stores."""

from pathlib import Path

import pytest

from kernelwright.agents import session
from kernelwright.tasks import TaskNotFound, find_task_path, loader


def _no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("resolve_tasks must not load (execute) a task")

    monkeypatch.setattr(loader, "load_task", refuse)
    monkeypatch.setattr(session, "load_task", refuse)


def test_resolve_tasks_finds_files_without_loading_them(fixture_tasks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_loading(monkeypatch)
    tree = fixture_tasks / "tree"
    one = tree / "level1" / "1_scaled_relu.py"
    paths = session.resolve_tasks(["level2/2_heads_split", "linear_gelu", str(one), "heads_split"], [tree])
    assert paths == [str((tree / "level2" / "2_heads_split.py").resolve()),
                     str((tree / "level2" / "1_linear_gelu.py").resolve()), str(one.resolve())]
    assert session.resolve_tasks([str(tree)], [tree], levels=[1]) == [str(one.resolve())]
    assert session.resolve_tasks(["heads_split", str(one)], [tree], levels=[2]) == [
        str((tree / "level2" / "2_heads_split.py").resolve())]


def test_resolve_tasks_unknown_name_is_task_not_found(fixture_tasks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_loading(monkeypatch)
    with pytest.raises(TaskNotFound, match=r"^no task 'level9/nothing' \(give a file path, levelN/NAME or NAME\)$"):
        session.resolve_tasks(["level9/nothing"], [fixture_tasks / "tree"])


def test_find_task_path_returns_the_file(fixture_tasks: Path) -> None:
    tree = fixture_tasks / "tree"
    assert find_task_path("level2/heads_split", [tree]) == tree / "level2" / "2_heads_split.py"
    assert find_task_path("1_scaled_relu.py", [tree]) == tree / "level1" / "1_scaled_relu.py"
