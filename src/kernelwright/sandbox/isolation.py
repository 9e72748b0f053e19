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

import fnmatch
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..resources import data_dir
from .gpu_devices import lane_nodes
from .limits import (PHASES, EnvPolicy, FilesystemPolicy, Limits, SandboxPolicy,  # noqa: F401  (re-exported)
                     SandboxPolicyError, default_policy_path, load_limits, load_policy)
from .memory_cap import MemoryCap, delegated_root
from .process_tree import kill_tree, members, terminate, wait_exit
from .worker_threads import CANDIDATE_JOB_PREFIX, candidate_threads, thread_env, worker_threads  # noqa: F401  (re-exported)
from .worker_files import read_worker_file, read_worker_json, read_worker_text  # noqa: F401  (re-exported)
from .worker_output import TAIL_CHARS, CapturedOutput  # noqa: F401  (re-exported)

_PROBE_TIMEOUT_S = 10.0
_FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the kernelwright package


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
    memory_cap: Literal["cgroup", "address_space", "none"] = "none"
    memory_exceeded: bool = False  # the kernel killed a process of the tree at the cgroup's cap
    output_dropped_bytes: int = 0  # printed beyond `output_mb`, not kept
    notes: list[str] = []

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.signal is None


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


# A lane is the GPU a verification's workers may use ("0", "1", ...): an evaluation runs one verification per GPU,
# each in its own thread, and every process a verification starts sees only its own device. Callers pass it
# explicitly (see sandbox/context.py), never through thread state.


def lane_env(lane: str | None) -> dict[str, str]:
    """The environment that points a process at `lane`'s GPU alone ({} without a lane)."""
    return lane_nodes(lane)[1] if lane is not None else {}


def is_secret_name(name: str, deny: Sequence[str]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern.upper()) for pattern in deny)


def worker_env(job_dir: Path, limits: Limits, *, env_extra: Mapping[str, str] = {}, gpu: bool = False,
               lane: str | None = None, policy: SandboxPolicy | None = None) -> tuple[dict[str, str], list[str]]:
    """The worker's whole environment, built from nothing, and notes on what was dropped. `lane`: the GPU a
    `gpu` worker may see (None: every GPU, the process's default device)."""
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
        env.update(lane_env(lane))
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
                notes: list[str], lane: str | None = None) -> list[str]:
    assert launcher.exe is not None
    argv = [launcher.exe, "--ro-bind", "/", "/", "--dev", "/dev"]
    if gpu:  # its lane's GPU and the driver's shared nodes, nothing else of the host's /dev
        nodes, _, note = lane_nodes(lane)
        for node in nodes:
            argv += ["--dev-bind", str(node), str(node)]
        notes += [note] if note else []
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


def _memory_cap(limits: Limits, notes: list[str]) -> MemoryCap | None:
    """The worker's cgroup, when the phase sets `memory_mb` and a delegated cgroup v2 is here; else None."""
    if limits.memory_mb is None:
        return None
    root = delegated_root()
    if root is None:
        return None
    try:
        return MemoryCap(root, limits.memory_mb * 2**20)
    except OSError as exc:
        notes.append(f"no cgroup memory cap ({exc}); falling back to the address-space limit")
        return None


def _address_capped(limits: Limits, gpu: bool) -> bool:
    return limits.address_space_mb is not None and not gpu


def _rlimits(limits: Limits, gpu: bool) -> list[tuple[int, tuple[int, int]]]:
    """The worker's rlimits. RLIMIT_AS for CPU workers only (CUDA maps huge virtual ranges), beside a cgroup cap
    if there is one: the cgroup counts memory used, the address space also what is mapped and never touched."""
    mb = 1024 * 1024
    wanted = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
              (resource.RLIMIT_NOFILE, limits.open_files)]
    if limits.cpu_time_s is not None:
        wanted.append((resource.RLIMIT_CPU, limits.cpu_time_s))
    if _address_capped(limits, gpu):
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
    lane: str | None = None,
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
    `gpu=True` exposes /dev/nvidia* (only `lane`'s GPU where a lane is given) and lifts the address-space limit.
    `pass_fds`: descriptors the worker inherits under the same numbers (a pipe to the trusted side).
    `on_start(pid)`: called once the worker's root process is started (e.g. `WorkerPause.started`).
    """
    if not argv:
        raise ValueError("run_isolated needs a command")
    policy = policy or load_policy()
    launcher = _launcher()
    job_dir = Path(job_dir).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "cache"):
        (job_dir / sub).mkdir(exist_ok=True)
    env, notes = worker_env(job_dir, limits, env_extra=env_extra, gpu=gpu, lane=lane,
                            policy=policy)
    if shutil.which(argv[0], path=env["PATH"]) is None:
        raise FileNotFoundError(f"worker command not found: {argv[0]}")

    if launcher.info.method == "bwrap":
        prefix = _bwrap_argv(launcher, job_dir, writable=writable, readable_extra=readable_extra, hidden=hidden,
                             gpu=gpu, env=env, policy=policy, notes=notes, lane=lane)
    else:
        prefix = list(launcher.prefix)
        if hidden:
            notes.append(f"{len(hidden)} hidden path(s) remain readable: the filesystem is shared")
    cap = _memory_cap(limits, notes)
    rlimits = _rlimits(limits, gpu)

    def confine() -> None:  # runs in the child between fork and exec: keep it to system calls
        if cap is not None:
            cap.enter()
        for which, pair in rlimits:
            resource.setrlimit(which, pair)

    out = CapturedOutput(job_dir / "stdout.txt", limits.output_mb * 2**20)
    err = CapturedOutput(job_dir / "stderr.txt", limits.output_mb * 2**20)
    stdin_file = tempfile.TemporaryFile() if stdin_bytes is not None else None  # noqa: SIM115
    killed = timed_out = False
    try:
        if stdin_file is not None:
            stdin_file.write(stdin_bytes)
            stdin_file.seek(0)
        started = time.monotonic()
        proc = subprocess.Popen(
            [*prefix, *argv], cwd=job_dir, env=env, stdin=stdin_file or subprocess.DEVNULL,
            stdout=out.child_fd, stderr=err.child_fd, start_new_session=True, close_fds=True, preexec_fn=confine,
            pass_fds=tuple(pass_fds),
        )
        out.started()
        err.started()
        try:
            pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        if on_start is not None:
            on_start(proc.pid)
        try:
            if not wait_exit(proc, pidfd, limits.timeout_s):
                timed_out = killed = True
                terminate(proc, pidfd, limits.kill_grace_s)
            elif members(proc.pid) - {proc.pid}:
                killed = kill_tree(proc.pid)
                if killed:
                    notes.append("processes left behind by the worker were killed")
        except BaseException:  # interrupted while waiting: take the worker down with us
            kill_tree(proc.pid)
            proc.wait()
            raise
        finally:
            if pidfd is not None:
                os.close(pidfd)
        returncode = proc.wait()  # reaps; only now may the pid be reused
        wall = time.monotonic() - started
    finally:
        out.finish()
        err.finish()
        if stdin_file is not None:
            stdin_file.close()
        oom_kills = cap.oom_kills() if cap is not None else 0
        if cap is not None:
            cap.remove()
    dropped = out.dropped + err.dropped
    if dropped:
        notes.append(f"the worker printed {dropped} bytes beyond the {limits.output_mb} MiB kept of its output")
    if oom_kills:
        notes.append(f"the kernel killed {oom_kills} process(es) of the worker at its {limits.memory_mb} MiB cap")

    number = -returncode if returncode < 0 else None
    if number is None and launcher.info.method == "bwrap" and 128 < returncode <= 128 + 64:
        number = returncode - 128
        notes.append(f"bwrap reports a worker killed by a signal as exit status 128+N; read {returncode} as "
                     f"{_signal_name(number)}")
    if launcher.info.method == "bwrap" and returncode == 1 and "bwrap: " in err.tail:
        notes.append("bwrap itself may have failed to start the worker (see stderr)")
    return WorkerOutcome(
        returncode=returncode, signal=number, signal_name=_signal_name(number) if number else None,
        timed_out=timed_out, wall_s=wall, stdout_tail=out.tail, stderr_tail=err.tail,
        isolation=launcher.info.model_copy(deep=True), killed_group=killed, notes=notes,
        memory_cap="cgroup" if cap is not None else "address_space" if _address_capped(limits, gpu) else "none",
        memory_exceeded=oom_kills > 0, output_dropped_bytes=dropped,
    )
