"""Finding and loading task files: one file, a folder, or a tree of levelN folders."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from .execution import EnvironmentLimit, TaskRunError, TaskTimeout, derive_specs, execute_module, quiet, time_limit
from .models import LoadResult, Task, TaskError
from .source import TaskSourceError, content_hash, parse_task_source

LEVEL_DIR = re.compile(r"^level(\d+)$")
TASK_TIME_LIMIT_S = 30.0


class TaskNotFound(Exception):
    pass


def discover(path: Path) -> list[Path]:
    """Task files under a path: the file itself, the levelN folders of a tree, or a folder's .py files."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise TaskNotFound(f"{path}: no such file or folder")
    level_dirs = sorted((d for d in path.iterdir() if d.is_dir() and LEVEL_DIR.match(d.name)), key=level_of_dir)
    folders = level_dirs or [path]
    return [f for folder in folders for f in sorted(folder.glob("*.py"), key=_file_order) if f.name != "__init__.py"]


def load_tasks(paths: Iterable[Path], *, specs: bool = True) -> LoadResult:
    """Loads every task under the given paths; a broken file becomes an error line, never an exception."""
    result = LoadResult()
    seen: set[Path] = set()
    for root in paths:
        try:
            files = discover(Path(root))
        except TaskNotFound:
            result.errors.append(TaskError(path=str(root), message="no such file or folder"))
            continue
        for file in files:
            resolved = file.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            try:
                result.tasks.append(load_task(file, specs=specs))
            except TaskSourceError as exc:
                result.errors.append(TaskError(path=str(file), message=str(exc)))
    return result


def load_task(path: Path, *, specs: bool = True) -> Task:
    """Loads one task file; raises TaskSourceError with a one-line reason when it is broken."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskSourceError(f"cannot read file: {exc}") from None
    parsed = parse_task_source(source, str(path))
    task = Task(
        name=path.stem,
        level=level_of_dir(path.parent),
        path=str(path),
        hash=content_hash(source),
        docstring=parsed.docstring,
        source=source,
        constants=parsed.constants,
        declarations=parsed.declarations,
    )
    if specs:
        try:
            with quiet(), time_limit(TASK_TIME_LIMIT_S):
                module = execute_module(compile(parsed.tree, str(path), "exec"), str(path))
                task.specs = derive_specs(module)
        except EnvironmentLimit as exc:
            task.specs_note = str(exc)
        except TaskRunError as exc:
            raise TaskSourceError(str(exc)) from None
        except TaskTimeout as exc:
            raise TaskSourceError(f"running the module, get_inputs() or Model() {exc}") from None
    return task


def find_task(ref: str, search_roots: Iterable[Path]) -> Task:
    """A task by path, by `levelN/name`, by name, or by name without its number prefix."""
    return load_task(find_task_path(ref, search_roots))


def find_task_path(ref: str, search_roots: Iterable[Path]) -> Path:
    """The file of a task given by path, by `levelN/name`, by name, or by name without its number prefix; nothing
    is loaded."""
    candidate = Path(ref)
    if candidate.is_file():
        return candidate
    wanted = ref.removesuffix(".py")
    for root in search_roots:
        if not Path(root).exists():
            continue
        for file in discover(Path(root)):
            level = level_of_dir(file.parent)
            short = re.sub(r"^\d+_", "", file.stem)
            names = {file.stem, short, f"level{level}/{file.stem}", f"level{level}/{short}"}
            if wanted in names:
                return file
    raise TaskNotFound(f"no task '{ref}' (give a file path, levelN/NAME or NAME)")


def level_of_dir(path: Path) -> int | None:
    """N for a folder named levelN, else None."""
    match = LEVEL_DIR.match(path.name)
    return int(match.group(1)) if match else None


def _file_order(path: Path) -> tuple[int, str]:
    number = re.match(r"^(\d+)", path.name)
    return (int(number.group(1)) if number else 1 << 30, path.name)
