"""Harness-owned builds: one isolated compile per source hash, kept in a cache that survives runs."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from .extensions import ExtensionSpec, Toolchain, build_key, module_name
from .isolation import load_limits, read_worker_file, run_isolated
from .protocol import BuildRequest, BuildResult, read_result, write_request
from .pch import ensure_pch

DEFAULT_CACHE = Path("runs") / "cache" / "builds"
CACHE_ENV = "KERNELWRIGHT_CACHE"
ERROR_LINE = re.compile(r"(error|Error|undefined reference|fatal)", re.IGNORECASE)
PTXAS_LINE = re.compile(r"ptxas info\s*:.*")


class BuildOutcome(BaseModel):
    key: str
    module: str
    ok: bool
    cached: bool
    seconds: float
    compile_seconds: float | None = None  # what compiling it took, also when this outcome came from the cache
    library: str | None = None
    log: str = ""
    errors: str | None = None
    ptxas: str | None = None
    fast_layout: bool = False
    timed_out: bool = False
    toolchain: Toolchain

    def loader_entry(self) -> dict[str, str]:
        """What a worker's cached_loader needs to import this build."""
        return {"key": self.key, "module": self.module, "library": self.library or "",
                "toolchain": self.toolchain.model_dump_json()}


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


class BuildCache:
    """Built libraries by build key. Only the trusted orchestrator writes here, never a worker."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_dir()).resolve()

    def entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str, toolchain: Toolchain) -> BuildOutcome | None:
        meta = self.entry(key) / "meta.json"
        if not meta.exists():
            return None
        outcome = BuildOutcome.model_validate_json(meta.read_text())
        outcome.compile_seconds = outcome.compile_seconds or outcome.seconds
        outcome.cached, outcome.seconds = True, 0.0
        if outcome.ok and not Path(outcome.library or "").exists():
            return None
        return outcome

    def put(self, outcome: BuildOutcome, library: Path | None) -> BuildOutcome:
        final = self.entry(outcome.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
        if library is not None:
            shutil.copy2(library, staging / library.name)
            outcome.library = str(final / library.name)
        (staging / "build.log").write_text(outcome.log)
        (staging / "meta.json").write_text(outcome.model_dump_json())
        try:
            staging.rename(final)
        except OSError:  # another process cached the same key first; theirs is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
        return outcome


def build_extension(spec: ExtensionSpec, toolchain: Toolchain, cache: BuildCache, *, use_pch: bool = True) -> BuildOutcome:
    """Compiles one extension in an isolated worker, or returns the cached result of an identical build."""
    key = build_key(spec, toolchain)
    cached = cache.lookup(key, toolchain)
    if cached is not None:
        return cached
    header = ensure_pch(toolchain, cache.root) if use_pch else None
    job = Path(tempfile.mkdtemp(prefix="kw-build-"))
    try:
        write_request(job, BuildRequest(spec=spec.model_dump(), toolchain=toolchain.model_dump(mode="json"),
                                        module=module_name(key), pch=str(header) if header else None))
        started = time.perf_counter()
        outcome = run_isolated(
            [sys.executable, "-m", "kernelwright.workers.build", str(job)],
            job_dir=job, limits=load_limits("build"), gpu=False,
            readable_extra=[header.parent] if header else [],
        )
        log = _read(job, "stdout.txt") + _read(job, "stderr.txt")
        result = read_result(job, BuildResult)
        ok = bool(result.get("ok")) and not outcome.timed_out
        built = BuildOutcome(
            key=key, module=module_name(key), ok=ok, cached=False, toolchain=toolchain,
            seconds=result.get("seconds", time.perf_counter() - started), log=log,
            errors=None if ok else trim_errors(log, result.get("error"), outcome.timed_out),
            ptxas="\n".join(PTXAS_LINE.findall(log)) or None,
            fast_layout=bool(result.get("fast_layout")), timed_out=outcome.timed_out,
        )
        if outcome.timed_out:
            return built  # a timeout may be load, not the source: don't cache it
        return cache.put(built, Path(result["library"]) if ok else None)
    finally:
        shutil.rmtree(job, ignore_errors=True)


def build_all(specs: list[ExtensionSpec], toolchain: Toolchain, cache: BuildCache, workers: int = 2,
              use_pch: bool = True) -> list[BuildOutcome]:
    """Builds several extensions at once on CPU workers (the GPU stays free for verification)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda spec: build_extension(spec, toolchain, cache, use_pch=use_pch), specs))


def trim_errors(log: str, error: str | None, timed_out: bool, max_lines: int = 40) -> str:
    """The compiler errors with a line of context each: what a Coder needs, not ninja's whole transcript."""
    if timed_out:
        return "the build did not finish within its time limit"
    lines = log.splitlines()
    picked: list[str] = []
    for index, line in enumerate(lines):
        if ERROR_LINE.search(line) and not line.lstrip().startswith(("[", "FAILED:", "ninja: build stopped")):
            for context in lines[max(0, index - 1): index + 2]:
                if context not in picked[-3:]:
                    picked.append(context)
        if len(picked) >= max_lines:
            break
    if not picked and error:
        picked = error.strip().splitlines()[-max_lines:]
    return "\n".join(picked[:max_lines])


def _read(job: Path, name: str) -> str:
    try:
        return read_worker_file(job, name).decode(errors="replace")
    except (OSError, ValueError):
        return ""
