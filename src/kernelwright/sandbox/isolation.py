"""Run one worker command in a fresh, confined process and report what happened.

The runner only reports: exit status, signal, timeout, output tails. A worker's word is data; callers
read the result files a worker leaves in its job directory (see `read_worker_file`).

Confinement, strongest first (see `probe_isolation`):
- bwrap: read-only `/`, private `/tmp` and `/dev`, credentials masked, job dir writable, no network,
  own PID namespace (every descendant dies with the worker), no capabilities.
- unshare: own network namespace only; the filesystem is shared.
- none: a plain child process; recorded as such, never passed off as isolated.
"""

from __future__ import annotations

import errno
import json
import fnmatch
from contextvars import ContextVar
import functools
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..resources import data_dir

PHASES = ("inspect", "build", "correctness", "timing", "profile", "reference")
TAIL_CHARS = 4000
_PROBE_TIMEOUT_S = 10.0
_FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the kernelwright package


class SandboxPolicyError(ValueError):
    """`sandbox/limits.toml` is missing, malformed, or lacks the phase asked for."""


class Limits(BaseModel):
    """Resource limits for one worker run."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(gt=0)
    address_space_mb: int | None = Field(default=None, gt=0)  # CPU-only workers; ignored with gpu=True
    file_size_mb: int = Field(gt=0)
    open_files: int = Field(gt=0)
    cpu_time_s: int | None = Field(default=None, gt=0)
    threads: int | None = Field(default=None, gt=0)  # OMP/MKL/OpenBLAS thread cap
    kill_grace_s: float = Field(default=1.0, ge=0)


class EnvPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str]
    deny: list[str]
    thread_vars: list[str] = []


class FilesystemPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hide: list[str] = []


class SandboxPolicy(BaseModel):
    """The parsed `sandbox/limits.toml`."""

    phases: dict[str, Limits]
    env: EnvPolicy
    filesystem: FilesystemPolicy = FilesystemPolicy()


class IsolationInfo(BaseModel):
    method: Literal["bwrap", "unshare", "none"]
    network: Literal["isolated", "shared"]
    filesystem: Literal["confined", "shared"]
    notes: list[str] = []


class WorkerOutcome(BaseModel):
    returncode: int | None  # as seen by the runner; negative when the launched process died by a signal
    signal: int | None = None  # the signal that ended the worker, if any
    signal_name: str | None = None
    timed_out: bool = False
    wall_s: float
    stdout_tail: str = ""
    stderr_tail: str = ""
    isolation: IsolationInfo
    killed_group: bool = False  # the runner had to kill processes (timeout, or leftovers after exit)
    notes: list[str] = []

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.signal is None


# ---------------------------------------------------------------------------------------------- policy


def default_policy_path() -> Path:
    return data_dir("sandbox") / "limits.toml"


def load_policy(path: Path | None = None) -> SandboxPolicy:
    """Parse the sandbox policy; [defaults] are merged into every phase."""
    try:
        target = Path(path) if path is not None else default_policy_path()
        mtime = target.stat().st_mtime_ns
    except OSError as exc:
        raise SandboxPolicyError(f"sandbox policy {path or 'sandbox/limits.toml'} is unreadable: {exc}") from exc
    return _load_policy_cached(target.resolve(), mtime)


@functools.lru_cache(maxsize=8)
def _load_policy_cached(path: Path, _mtime_ns: int) -> SandboxPolicy:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SandboxPolicyError(f"sandbox policy {path} is unreadable: {exc}") from exc
    defaults = data.get("defaults", {})
    try:
        return SandboxPolicy(
            phases={name: {**defaults, **table} for name, table in data.get("phases", {}).items()},
            env=data.get("env", {}),
            filesystem=data.get("filesystem", {}),
        )
    except ValueError as exc:
        raise SandboxPolicyError(f"sandbox policy {path} is invalid: {exc}") from exc


def load_limits(phase: str, path: Path | None = None) -> Limits:
    """The limits of one phase (`inspect`, `build`, `correctness`, `timing`, `profile`, `reference`)."""
    policy = load_policy(path)
    if phase not in policy.phases:
        known = ", ".join(sorted(policy.phases)) or "none"
        raise SandboxPolicyError(f"unknown sandbox phase {phase!r}; the policy defines: {known}")
    return policy.phases[phase].model_copy()


# ---------------------------------------------------------------------------------------------- probe


class _Launcher(BaseModel):
    info: IsolationInfo
    exe: str | None = None  # bwrap's path
    prefix: list[str] = []  # unshare/setpriv prefix for the other methods
    drop_caps: bool = False  # bwrap: pass --cap-drop ALL (needed when running as root)


_probe_lock = threading.Lock()
_probed: _Launcher | None = None


def _which(name: str) -> str | None:
    return shutil.which(name)


def _try(argv: list[str]) -> str | None:
    """None if `argv` ran and exited 0, else why not."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_PROBE_TIMEOUT_S,
                              check=False, start_new_session=True)
    except subprocess.TimeoutExpired:
        return f"timed out after {_PROBE_TIMEOUT_S:g} s"
    except OSError as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    message = done.stderr.decode(errors="replace").strip().splitlines()
    return f"exit {done.returncode}: {message[-1] if message else 'no message'}"


def _drop_caps_prefix(reasons: list[str], wrap: list[str], true: str) -> list[str]:
    """setpriv arguments that leave a root worker without capabilities (else it could leave its namespace)."""
    setpriv = _which("setpriv")
    if setpriv is None:
        reasons.append("setpriv not found: a root worker keeps its capabilities")
        return []
    prefix = [setpriv, "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"]
    why = _try([*wrap, *prefix, true])
    if why is not None:
        reasons.append(f"setpriv failed ({why}): a root worker keeps its capabilities")
        return []
    return prefix


def _probe() -> _Launcher:
    true = _which("true") or "/bin/true"
    root = os.geteuid() == 0
    reasons: list[str] = []

    bwrap = _which("bwrap")
    if bwrap is None:
        reasons.append("bwrap not found")
    else:
        argv = [bwrap, *_BWRAP_PROBE, *(["--cap-drop", "ALL"] if root else []), "--", true]
        why = _try(argv)
        if why is None:
            return _Launcher(info=IsolationInfo(method="bwrap", network="isolated", filesystem="confined"),
                             exe=bwrap, drop_caps=root)
        reasons.append(f"bwrap failed: {why}")

    unshare = _which("unshare")
    if unshare is None:
        reasons.append("unshare not found")
    else:
        for flags in (["-n"], ["-r", "-n"]):
            why = _try([unshare, *flags, "--", true])
            if why is None:
                notes = [*reasons, f"network isolated with `unshare {' '.join(flags)}`",
                         "filesystem shared: writes outside the job dir are not blocked, "
                         "and the orchestrator's files (including /tmp) are readable",
                         "no PID namespace: a process that calls setsid() and outlives its parent can survive"]
                prefix = [unshare, *flags, "--"]
                prefix += _drop_caps_prefix(notes, prefix, true) if root or "-r" in flags else []
                return _Launcher(info=IsolationInfo(method="unshare", network="isolated", filesystem="shared",
                                                     notes=notes), prefix=prefix)
            reasons.append(f"`unshare {' '.join(flags)}` failed: {why}")

    notes = ["no isolation available: " + "; ".join(reasons),
             "network and filesystem shared with the orchestrator; no PID namespace"]
    prefix = _drop_caps_prefix(notes, [], true) if root else []
    return _Launcher(info=IsolationInfo(method="none", network="shared", filesystem="shared", notes=notes),
                     prefix=prefix)


def _launcher(refresh: bool = False) -> _Launcher:
    global _probed
    with _probe_lock:
        if _probed is None or refresh:
            _probed = _probe()
        return _probed


def probe_isolation(refresh: bool = False) -> IsolationInfo:
    """The strongest confinement that works here (bwrap, then `unshare -n`, then none), found by running
    `true` under each; cached for the process."""
    return _launcher(refresh).info.model_copy(deep=True)


# ---------------------------------------------------------------------------------------------- environment


# The GPU this thread's workers may use ("0", "1", ...): an evaluation runs one verification per GPU, each in
# its own thread, and every process those threads start sees only its own device.
gpu_lane: ContextVar[str | None] = ContextVar("gpu_lane", default=None)


def lane_env() -> dict[str, str]:
    lane = gpu_lane.get()
    return {"CUDA_VISIBLE_DEVICES": lane} if lane is not None else {}


def is_secret_name(name: str, deny: Sequence[str]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern.upper()) for pattern in deny)


def worker_env(job_dir: Path, limits: Limits, *, env_extra: Mapping[str, str] = {}, gpu: bool = False,
               policy: SandboxPolicy | None = None) -> tuple[dict[str, str], list[str]]:
    """The worker's whole environment, built from nothing, and notes on what was dropped."""
    policy = policy or load_policy()
    deny, notes = policy.env.deny, []
    env: dict[str, str] = {}
    for name in policy.env.allow:
        if name in os.environ:
            if is_secret_name(name, deny):
                notes.append(f"dropped {name}: allowed by the policy but its name looks like a secret")
            else:
                env[name] = os.environ[name]
    # Relative or empty PATH entries would resolve in the job dir, where the worker can plant a fake `nvcc`.
    path = [p for p in env.get("PATH", _FALLBACK_PATH).split(os.pathsep) if os.path.isabs(p)]
    venv_bin = str(Path(sys.executable).parent)  # ninja and friends installed beside the interpreter
    env["PATH"] = os.pathsep.join([venv_bin, *(p for p in path if p != venv_bin)])
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU worker gets no GPU, with or without a private /dev
    else:
        env.update(lane_env())
    env.update(
        HOME=str(job_dir),
        TMPDIR=str(job_dir / "tmp"),
        TORCH_EXTENSIONS_DIR=str(job_dir / "torch_extensions"),
        XDG_CACHE_HOME=str(job_dir / "cache"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="random",
        PYTHONUNBUFFERED="1",  # whatever was printed before a kill is in the tail
        PYTHONNOUSERSITE="1",  # HOME is the writable job dir: no user site-packages from it
        PYTHONSAFEPATH="1",  # nor modules planted in the cwd (the job dir)
    )
    if limits.threads is not None:
        env.update({name: str(limits.threads) for name in policy.env.thread_vars})
    for name, value in env_extra.items():
        if is_secret_name(name, deny):
            notes.append(f"dropped {name} from env_extra: its name looks like a secret")
        else:
            env[name] = str(value)
    return env, notes


# ---------------------------------------------------------------------------------------------- bwrap

# What the probe runs `true` under: the core of every sandbox `_bwrap_argv` builds.
_BWRAP_PROBE = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]


def _runtime_paths(env: Mapping[str, str]) -> set[Path]:
    """What a worker needs to start Python and import kernelwright, wherever it is installed."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(_PACKAGE_ROOT)}
    # A folder above the package (the checkout, the cwd of `python -m`) would unmask everything beside it.
    paths.update(p for p in sys.path if os.path.isabs(p) and not _PACKAGE_ROOT.is_relative_to(Path(p).resolve()))
    paths.update(p for name in ("CUDA_HOME", "CUDA_PATH") if (p := env.get(name)) and os.path.isabs(p))
    paths.update(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if os.path.isabs(p))
    # the shipped policy data (sandbox/attribution.toml is read in the correctness worker), wherever the checkout is
    paths.update(str(data_dir(name)) for name in ("sandbox",) if _has_data(name))
    return {Path(p).resolve() for p in paths if os.path.exists(p)}


def _has_data(name: str) -> bool:
    try:
        data_dir(name)
    except FileNotFoundError:
        return False
    return True


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _bwrap_argv(launcher: _Launcher, job_dir: Path, *, writable: Sequence[Path], readable_extra: Sequence[Path],
                hidden: Sequence[Path], gpu: bool, env: Mapping[str, str], policy: SandboxPolicy,
                notes: list[str]) -> list[str]:
    assert launcher.exe is not None
    argv = [launcher.exe, "--ro-bind", "/", "/"]
    # /dev/nvidia* must be reachable for a GPU worker; its /dev/shm stays private all the same.
    argv += ["--dev-bind", "/dev", "/dev", "--tmpfs", "/dev/shm"] if gpu else ["--dev", "/dev"]
    argv += ["--proc", "/proc"]

    masks = [Path("/tmp").resolve()]
    for raw in [*policy.filesystem.hide, *hidden]:
        path = Path(os.path.expanduser(str(raw))).resolve()
        if os.path.lexists(path):
            masks.append(path)
    ops: list[tuple[Path, int]] = [(p, 0) for p in masks]  # 0 mask, 1 read-only, 2 read-write
    ops += [(p, 1) for p in _runtime_paths(env) if _under(p, masks)]
    for kind, paths in ((1, readable_extra), (2, [job_dir, *writable])):
        for raw in paths:
            path = Path(raw).resolve()
            if path.exists():
                ops.append((path, kind))
            else:
                notes.append(f"not bound (missing): {path}")
    # Shallow before deep, so a deeper bind shows through a mask above it and vice versa.
    for path, kind in sorted(set(ops), key=lambda op: (len(op[0].parts), op[1], str(op[0]))):
        if kind == 0:
            # A masked file reads as empty; plain binds are nodev, so /dev/null needs a dev-bind to open.
            argv += ["--tmpfs", str(path)] if path.is_dir() else ["--dev-bind", "/dev/null", str(path)]
        else:
            argv += ["--ro-bind" if kind == 1 else "--bind", str(path), str(path)]

    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
    if launcher.drop_caps:
        argv += ["--cap-drop", "ALL"]  # root keeps every capability in bwrap otherwise, and can remount / rw
    argv += ["--chdir", str(job_dir), "--"]
    return argv


# ---------------------------------------------------------------------------------------------- processes


def _proc_table() -> list[tuple[int, int, int]]:
    """(pid, ppid, session id) of every visible process."""
    table = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        table.append((int(entry.name), int(fields[1]), int(fields[3])))
    return table


def _members(root: int) -> set[int]:
    """`root`'s descendants and everything in its session. Only call while `root` is not yet reaped, so its
    pid (and session id) cannot have been reused."""
    children: dict[int, list[int]] = {}
    found = set()
    for pid, ppid, sid in _proc_table():
        children.setdefault(ppid, []).append(pid)
        if sid == root:
            found.add(pid)
    stack = [root, *found]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    found.discard(os.getpid())
    return found


class _Tree:
    """The processes of one worker, frozen with SIGSTOP as they are found (so none forks away or dies and
    leaves its children to init mid-kill), each held by a pidfd so a recycled pid is never signalled."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.held: dict[int, int | None] = {}

    def freeze(self) -> None:
        for _ in range(50):
            fresh = _members(self.root) - self.held.keys()
            if not fresh:
                return
            for pid in fresh:
                try:
                    self.held[pid] = os.pidfd_open(pid)
                except (AttributeError, OSError):
                    self.held[pid] = None
                self._send(pid, signal.SIGSTOP)

    def _send(self, pid: int, sig: int) -> None:
        fd = self.held.get(pid)
        try:
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def send(self, sig: int) -> None:
        for pid in self.held:
            self._send(pid, sig)
        try:
            os.killpg(self.root, sig)  # the root is not reaped yet, so its group id is still ours
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        for fd in self.held.values():
            if fd is not None:
                os.close(fd)
        self.held.clear()


class WorkerPause:
    """Stops every process of a running worker (SIGSTOP, as `_Tree` finds them) and lets them go on (SIGCONT):
    the timing phase holds the candidate's worker still while the baseline worker times its block. `started(pid)`
    comes from run_isolated's `on_start`; before that, and once the worker has exited, it does nothing."""

    def __init__(self) -> None:
        self._root: int | None = None
        self._pidfd: int | None = None
        self._tree: _Tree | None = None
        self._lock = threading.Lock()

    def started(self, pid: int) -> None:
        with self._lock:
            self._root = pid
            try:
                self._pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):
                self._pidfd = None

    def stop(self) -> bool:
        """True when the worker's processes are stopped now."""
        with self._lock:
            if self._tree is None and self._root is not None and self._pidfd is not None and self._alive():
                tree = _Tree(self._root)
                tree.freeze()
                self._tree = tree
            return self._tree is not None

    def go(self) -> None:
        with self._lock:
            tree, self._tree = self._tree, None
            if tree is not None:
                for pid in tree.held:
                    tree._send(pid, signal.SIGCONT)
                tree.close()

    def close(self) -> None:
        self.go()
        with self._lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
            self._pidfd = self._root = None

    def _alive(self) -> bool:
        try:
            signal.pidfd_send_signal(self._pidfd, 0)
        except (ProcessLookupError, OSError):
            return False
        return True


def _kill_tree(root: int) -> bool:
    """SIGKILL `root` and everything it started. True if there was more than `root` itself."""
    tree = _Tree(root)
    try:
        tree.freeze()
        tree.send(signal.SIGKILL)
        return bool(tree.held.keys() - {root})
    finally:
        tree.close()


def _terminate(proc: subprocess.Popen, pidfd: int | None, grace_s: float) -> None:
    """SIGTERM the whole tree, SIGKILL it `grace_s` later, and wait for the root to exit."""
    tree = _Tree(proc.pid)
    try:
        tree.freeze()
        tree.send(signal.SIGTERM)
        tree.send(signal.SIGCONT)
        _wait_exit(proc, pidfd, grace_s)
        tree.freeze()  # whatever it started during the grace
        tree.send(signal.SIGKILL)
    finally:
        tree.close()
    _wait_exit(proc, pidfd, None)


def _wait_exit(proc: subprocess.Popen, pidfd: int | None, timeout: float | None) -> bool:
    """Wait until the child has exited, without reaping it. True if it has."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if pidfd is not None:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([pidfd], [], [], left)
            except InterruptedError:
                continue
            return bool(ready)
    pause = 0.002
    while True:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.05)


def _rlimits(limits: Limits, gpu: bool) -> list[tuple[int, tuple[int, int]]]:
    mb = 1024 * 1024
    wanted = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
              (resource.RLIMIT_NOFILE, limits.open_files)]
    if limits.cpu_time_s is not None:
        wanted.append((resource.RLIMIT_CPU, limits.cpu_time_s))
    if limits.address_space_mb is not None and not gpu:
        wanted.append((resource.RLIMIT_AS, limits.address_space_mb * mb))
    result = []
    for which, value in wanted:
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        top = value
        if which == resource.RLIMIT_CPU and (hard == resource.RLIM_INFINITY or value + 5 <= hard):
            top = value + 5  # soft < hard: the worker gets SIGXCPU, a readable cause, before SIGKILL
        result.append((which, (value, top)))
    return result


def _open_output(path: Path) -> int:
    """Create `path` afresh for the worker's output; a symlink left by an earlier worker is not followed."""
    try:
        if path.is_symlink() or path.exists():
            path.unlink()
    except IsADirectoryError:
        shutil.rmtree(path)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def _tail(fd: int, chars: int = TAIL_CHARS) -> str:
    """The end of an output file, read through the runner's own descriptor (the worker may have renamed or
    replaced the path)."""
    size = os.fstat(fd).st_size
    start = max(0, size - chars * 4)
    data = os.pread(fd, size - start, start)
    return data.decode("utf-8", errors="replace")[-chars:]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def run_isolated(
    argv: Sequence[str],
    *,
    job_dir: Path,
    limits: Limits,
    writable: Sequence[Path] = (),
    readable_extra: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
    env_extra: Mapping[str, str] = {},
    gpu: bool = False,
    stdin_bytes: bytes | None = None,
    policy: SandboxPolicy | None = None,
    pass_fds: Sequence[int] = (),
    on_start: Callable[[int], None] | None = None,
) -> WorkerOutcome:
    """Run `argv` once in a fresh confined process with `job_dir` as cwd, HOME and only writable place.

    stdout and stderr go to `job_dir/stdout.txt` and `stderr.txt`. On timeout the whole tree is killed
    (SIGTERM, then SIGKILL after `limits.kill_grace_s`). With bwrap, `readable_extra` paths are re-exposed
    read-only (the private /tmp and masked folders hide everything else there), `hidden` ones are masked
    (e.g. the folder holding other jobs' results), `writable` ones are bound read-write.
    `gpu=True` exposes /dev/nvidia* and lifts the address-space limit. `pass_fds`: descriptors the worker
    inherits under the same numbers (a pipe to the trusted side). `on_start(pid)`: called once the worker's root
    process is started (e.g. `WorkerPause.started`).
    """
    if not argv:
        raise ValueError("run_isolated needs a command")
    policy = policy or load_policy()
    launcher = _launcher()
    job_dir = Path(job_dir).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "cache"):
        (job_dir / sub).mkdir(exist_ok=True)
    env, notes = worker_env(job_dir, limits, env_extra=env_extra, gpu=gpu, policy=policy)
    if shutil.which(argv[0], path=env["PATH"]) is None:
        raise FileNotFoundError(f"worker command not found: {argv[0]}")

    if launcher.info.method == "bwrap":
        prefix = _bwrap_argv(launcher, job_dir, writable=writable, readable_extra=readable_extra, hidden=hidden,
                             gpu=gpu, env=env, policy=policy, notes=notes)
    else:
        prefix = list(launcher.prefix)
        if hidden:
            notes.append(f"{len(hidden)} hidden path(s) remain readable: the filesystem is shared")
    rlimits = _rlimits(limits, gpu)

    def confine() -> None:  # runs in the child between fork and exec: keep it to system calls
        for which, pair in rlimits:
            resource.setrlimit(which, pair)

    out_fd = _open_output(job_dir / "stdout.txt")
    err_fd = _open_output(job_dir / "stderr.txt")
    stdin_file = tempfile.TemporaryFile() if stdin_bytes is not None else None  # noqa: SIM115
    killed = timed_out = False
    try:
        if stdin_file is not None:
            stdin_file.write(stdin_bytes)
            stdin_file.seek(0)
        started = time.monotonic()
        proc = subprocess.Popen(
            [*prefix, *argv], cwd=job_dir, env=env, stdin=stdin_file or subprocess.DEVNULL,
            stdout=out_fd, stderr=err_fd, start_new_session=True, close_fds=True, preexec_fn=confine,
            pass_fds=tuple(pass_fds),
        )
        try:
            pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        if on_start is not None:
            on_start(proc.pid)
        try:
            if not _wait_exit(proc, pidfd, limits.timeout_s):
                timed_out = killed = True
                _terminate(proc, pidfd, limits.kill_grace_s)
            elif _members(proc.pid) - {proc.pid}:
                killed = _kill_tree(proc.pid)
                if killed:
                    notes.append("processes left behind by the worker were killed")
        except BaseException:  # interrupted while waiting: take the worker down with us
            _kill_tree(proc.pid)
            proc.wait()
            raise
        finally:
            if pidfd is not None:
                os.close(pidfd)
        returncode = proc.wait()  # reaps; only now may the pid be reused
        wall = time.monotonic() - started
        stdout_tail, stderr_tail = _tail(out_fd), _tail(err_fd)
    finally:
        os.close(out_fd)
        os.close(err_fd)
        if stdin_file is not None:
            stdin_file.close()

    number = -returncode if returncode < 0 else None
    if number is None and launcher.info.method == "bwrap" and 128 < returncode <= 128 + 64:
        number = returncode - 128
        notes.append(f"bwrap reports a worker killed by a signal as exit status 128+N; read {returncode} as "
                     f"{_signal_name(number)}")
    if launcher.info.method == "bwrap" and returncode == 1 and "bwrap: " in stderr_tail:
        notes.append("bwrap itself may have failed to start the worker (see stderr)")
    return WorkerOutcome(
        returncode=returncode, signal=number, signal_name=_signal_name(number) if number else None,
        timed_out=timed_out, wall_s=wall, stdout_tail=stdout_tail, stderr_tail=stderr_tail,
        isolation=launcher.info.model_copy(deep=True), killed_group=killed, notes=notes,
    )


# ---------------------------------------------------------------------------------------------- results


def read_worker_file(job_dir: Path, name: str, max_bytes: int = 64 * 1024 * 1024) -> bytes:
    """A file a worker wrote in its job dir, read without trusting it: no symlinks, no FIFOs, no subpaths,
    bounded size. Raises OSError (FileNotFoundError if absent) or ValueError."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    dir_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{name} in {job_dir} is a symlink") from exc
        raise
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{name} in {job_dir} is not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"{name} in {job_dir} is {info.st_size} bytes, over the {max_bytes} limit")
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise ValueError(f"{name} in {job_dir} grew past the {max_bytes} byte limit")
        return data
    finally:
        os.close(fd)


def worker_threads(limit: int | None) -> int:
    """Threads a worker may use: the phase's limit, at most the cores there are."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, limit or cores))


# The job folders of every process that loads candidate code (correctness and timing) look alike.
CANDIDATE_JOB_PREFIX = "kw-job-"


def candidate_threads() -> int:
    """Threads of every process that loads candidate code: one number for the correctness and the timing phase
    (the smaller of their limits), so the thread count does not tell the phases apart."""
    limits = [load_limits(phase).threads for phase in ("correctness", "timing")]
    return worker_threads(min((n for n in limits if n), default=None))


def thread_env(threads: int, *, cuda: bool) -> dict[str, str]:
    """The environment that pins every BLAS / OpenMP runtime of a worker to `threads`. On the CPU idle OpenMP
    threads sleep: torch and a candidate's extension each bring a runtime, and spinning idle threads of one
    starve the other on a small machine (measured: 0.02 ms calls read 8 ms)."""
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    if not cuda:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def read_worker_text(job_dir: Path, name: str, max_bytes: int = 16 * 1024 * 1024) -> str:
    """A text file a worker's process (or a tool wrapped around it) wrote, read as read_worker_file does; "" when
    absent, too large, a symlink or otherwise unreadable."""
    try:
        return read_worker_file(job_dir, name, max_bytes).decode(errors="replace")
    except (OSError, ValueError):
        return ""


def read_worker_json(job_dir: Path, name: str, max_bytes: int = 32 * 1024 * 1024) -> dict[str, Any]:
    """A worker's JSON result object, read as read_worker_file does; {} when absent, malformed or not an object."""
    try:
        value = json.loads(read_worker_file(job_dir, name, max_bytes))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
