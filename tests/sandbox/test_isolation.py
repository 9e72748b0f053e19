"""Isolated workers: scrubbed environment, no network, confined writes, whole-tree kills, honest reports.

Worker scripts are small Python files in the job dir, run with this interpreter. Tests that need a given
isolation method force it by hiding the stronger tools from the probe, and skip if it doesn't work here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from kernelwright.sandbox import isolation
from kernelwright.sandbox.isolation import (
    Limits,
    SandboxPolicyError,
    WorkerOutcome,
    load_limits,
    probe_isolation,
    read_worker_file,
    run_isolated,
)

METHODS = ("bwrap", "unshare", "none")
SLEEPER = "import time; time.sleep(300)"


def force_method(monkeypatch: pytest.MonkeyPatch, method: str) -> isolation.IsolationInfo:
    """Make the probe see only the tools `method` needs; skip if that method doesn't work here."""
    monkeypatch.setattr(isolation, "_probed", None)  # restored after the test
    missing = {"bwrap": set(), "unshare": {"bwrap"}, "none": {"bwrap", "unshare"}}[method]
    real = isolation._which
    monkeypatch.setattr(isolation, "_which", lambda name: None if name in missing else real(name))
    info = probe_isolation(refresh=True)
    if info.method != method:
        pytest.skip(f"{method} isolation is unavailable here: {'; '.join(info.notes)}")
    return info


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    force_method(monkeypatch, request.param)
    return request.param


@pytest.fixture
def bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    force_method(monkeypatch, "bwrap")


@pytest.fixture
def limits() -> Limits:
    return load_limits("inspect").model_copy(update={"timeout_s": 30.0, "kill_grace_s": 0.5})


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job"
    path.mkdir()
    return path


@pytest.fixture
def outside() -> Path:
    """A scratch folder outside /tmp (bwrap gives workers a private /tmp, which would hide the point)."""
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("/var/tmp is not writable here")
    path = Path(tempfile.mkdtemp(prefix="kw-isolation-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_script(job: Path, body: str, limits: Limits, *args: str, **kwargs) -> WorkerOutcome:
    script = job / "worker.py"
    script.write_text(textwrap.dedent(body))
    return run_isolated([sys.executable, str(script), *args], job_dir=job, limits=limits, **kwargs)


def result(job: Path) -> dict:
    return json.loads((job / "result.json").read_text())


def marked(marker: str) -> list[int]:
    """Live (non-zombie) processes with `marker` among their arguments, seen from here."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                args = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in args:
                pids.append(int(entry.name))
    return pids


def wait_gone(marker: str, seconds: float = 2.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


# ---------------------------------------------------------------------------------------------- environment

ENV_DUMP = """
    import json, os
    from pathlib import Path
    leaked = []
    for entry in Path("/proc").iterdir():  # other processes' environments, where readable
        try:
            if b"sk-test-123" in (entry / "environ").read_bytes():
                leaked.append(entry.name)
        except OSError:
            pass
    json.dump({"env": dict(os.environ), "leaked_via_proc": leaked}, open("result.json", "w"))
"""


def test_secrets_never_reach_the_worker(bwrap, job: Path, limits: Limits, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-test-456")
    monkeypatch.setenv("NVCC_PREPEND_FLAGS", "-DEVIL")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-789")
    outcome = run_script(job, ENV_DUMP, limits, env_extra={"HF_TOKEN": "hf-test-000", "KW_FLAG": "on"})
    assert outcome.returncode == 0, outcome.stderr_tail
    env = result(job)["env"]
    for name in ("OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "NVCC_PREPEND_FLAGS", "GITHUB_TOKEN", "HF_TOKEN"):
        assert name not in env
    assert not any(secret in value for value in env.values()
                   for secret in ("sk-test-123", "aws-test-456", "ghp-test-789", "hf-test-000"))
    assert result(job)["leaked_via_proc"] == []
    assert env["KW_FLAG"] == "on"
    assert env["HOME"] == str(job.resolve())
    assert Path(env["TMPDIR"]).is_relative_to(job.resolve())
    assert Path(env["TORCH_EXTENSIONS_DIR"]).is_relative_to(job.resolve())
    assert env["OMP_NUM_THREADS"] == str(limits.threads)
    assert any("HF_TOKEN" in note for note in outcome.notes)
    assert "hf-test-000" not in json.dumps(outcome.model_dump())


def test_env_is_built_from_an_allowlist(job: Path, limits: Limits, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_RANDOM_SETTING", "x")
    monkeypatch.setenv("PATH", f"relative/bin:{os.pathsep}/usr/bin")
    env, notes = isolation.worker_env(job, limits, env_extra={"my_api_key": "k"})
    assert "SOME_RANDOM_SETTING" not in env and "my_api_key" not in env and notes
    assert all(os.path.isabs(entry) for entry in env["PATH"].split(os.pathsep))  # no cwd-relative entries
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # a CPU worker sees no GPU, bwrap or not
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert isolation.worker_env(job, limits, gpu=True)[0]["CUDA_VISIBLE_DEVICES"] == "1"


# ---------------------------------------------------------------------------------------------- network

NET_PROBE = """
    import json, socket, sys
    out = {}
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3).close()
        out["local"] = "connected"
    except OSError as exc:
        out["local"] = repr(exc)
    if len(sys.argv) > 3:  # a host daemon's unix socket: not cut by a network namespace
        try:
            unix = socket.socket(socket.AF_UNIX)
            unix.settimeout(3)
            unix.connect(sys.argv[3])
            out["unix"] = "connected"
        except OSError as exc:
            out["unix"] = repr(exc)
    if sys.argv[2] == "remote":
        try:
            info = socket.getaddrinfo("pypi.org", 443, type=socket.SOCK_STREAM)
            socket.create_connection(info[0][4][:2], timeout=3).close()
            out["remote"] = "connected"
        except OSError as exc:
            out["remote"] = repr(exc)
    json.dump(out, open("result.json", "w"))
"""


@pytest.fixture
def host_socket() -> str | None:
    """A listening unix socket under /run, where host daemons keep theirs (None if /run isn't writable)."""
    if not os.access("/run", os.W_OK):
        yield None
        return
    path = f"/run/kw-isolation-test-{uuid.uuid4().hex[:12]}.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(4)
    yield path
    server.close()
    os.unlink(path)


@pytest.mark.parametrize("method", ["bwrap", "unshare", "none"], indirect=True)
def test_network(method: str, job: Path, limits: Limits, host_socket: str | None) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    try:
        port = server.getsockname()[1]
        args = [str(port), "local" if method == "none" else "remote", *([host_socket] if host_socket else [])]
        outcome = run_script(job, NET_PROBE, limits, *args)
        assert outcome.returncode == 0, outcome.stderr_tail
        out = result(job)
        try:
            server.accept()[0].close()
            accepted = True
        except BlockingIOError:
            accepted = False
    finally:
        server.close()
    if method == "none":  # the control: the same probes do reach the servers without isolation
        assert out["local"] == "connected" and accepted
        assert out.get("unix", "connected") == "connected"
        assert outcome.isolation.network == "shared"
    else:
        assert out["local"] != "connected" and not accepted
        assert out["remote"] != "connected"
        assert outcome.isolation.network == "isolated"
    if method == "bwrap":
        assert out.get("unix") != "connected"


# ---------------------------------------------------------------------------------------------- filesystem

WRITER = """
    import json, os, shutil, subprocess, sys
    out = {}
    def attempt(name, path):
        try:
            with open(path, "w") as f:
                f.write("x")
            out[name] = "written"
        except OSError as exc:
            out[name] = repr(exc)
    attempt("inside", "inside.txt")
    attempt("outside", os.path.join(sys.argv[1], "escaped.txt"))
    attempt("visible_tmp", os.path.join(sys.argv[2], "escaped.txt"))
    if shutil.which("mount"):  # root in the sandbox must not be able to make / writable again
        subprocess.run(["mount", "-o", "remount,bind,rw", "/"], capture_output=True)
        attempt("after_remount", os.path.join(sys.argv[1], "escaped2.txt"))
    out["cap_eff"] = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
    json.dump(out, open("result.json", "w"))
"""


def test_writes_are_confined(bwrap, job: Path, tmp_path: Path, outside: Path, limits: Limits) -> None:
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    outcome = run_script(job, WRITER, limits, str(outside), str(sibling), readable_extra=[sibling])
    assert outcome.returncode == 0, outcome.stderr_tail
    out = result(job)
    assert out["inside"] == "written" and (job / "inside.txt").read_text() == "x"
    assert "Read-only file system" in out["outside"]
    assert "Read-only file system" in out["visible_tmp"]
    assert out.get("after_remount", "refused") != "written"
    assert int(out["cap_eff"], 16) == 0
    assert list(outside.iterdir()) == [] and list(sibling.iterdir()) == []
    assert outcome.isolation.filesystem == "confined"


READER = """
    import json, os, sys
    out = {}
    for path in sys.argv[1:]:
        try:
            out[path] = open(path).read()
        except OSError as exc:
            out[path] = "error: " + type(exc).__name__
    import kernelwright
    out["kernelwright"] = kernelwright.__file__
    json.dump(out, open("result.json", "w"))
"""


def test_credentials_and_hidden_paths_are_masked(bwrap, job: Path, outside: Path, limits: Limits,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = outside / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE")
    (home / ".netrc").write_text("machine x password y")
    (home / "visible.txt").write_text("ok")
    reference = outside / "reference"
    reference.mkdir()
    (reference / "expected.txt").write_text("ANSWER")
    monkeypatch.setenv("HOME", str(home))  # the policy's "~"
    paths = [home / ".ssh" / "id_rsa", home / ".netrc", home / "visible.txt", reference / "expected.txt"]
    outcome = run_script(job, READER, limits, *map(str, paths), hidden=[reference])
    assert outcome.returncode == 0, outcome.stderr_tail
    out = result(job)
    assert out[str(home / "visible.txt")] == "ok"
    for secret in (paths[0], paths[1], paths[3]):
        assert out[str(secret)] in ("", "error: FileNotFoundError"), secret


def test_masking_the_checkout_keeps_the_runtime(bwrap, job: Path, limits: Limits) -> None:
    checkout = isolation._PACKAGE_ROOT.parent
    if len(checkout.parts) < 3:
        pytest.skip(f"the checkout {checkout} is too close to / to mask in a test")
    probe = next((p for p in checkout.iterdir() if p.is_file()), None)
    if probe is None:
        pytest.skip("no file at the top of the checkout")
    outcome = run_script(job, READER, limits, str(probe), hidden=[checkout])
    assert outcome.returncode == 0, outcome.stderr_tail
    out = result(job)
    assert out[str(probe)].startswith("error:")
    assert Path(out["kernelwright"]).is_relative_to(isolation._PACKAGE_ROOT)


def test_output_symlink_left_in_the_job_dir_is_not_followed(bwrap, job: Path, tmp_path: Path, limits: Limits) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (job / "stdout.txt").symlink_to(victim)
    outcome = run_script(job, "print('hello')", limits)
    assert outcome.stdout_tail == "hello\n"
    assert victim.read_text() == "precious"


# ---------------------------------------------------------------------------------------------- processes

FORKER = """
    import subprocess, sys, time
    marker, then = sys.argv[1] + "-kid", sys.argv[2]  # the worker's own argv must not match
    kids = [subprocess.Popen([sys.executable, "-c", %r, marker])]
    if sys.argv[3] == "setsid":  # one that tries to leave the process group
        kids.append(subprocess.Popen([sys.executable, "-c", %r, marker], start_new_session=True))
    open("ready", "w").write(" ".join(str(k.pid) for k in kids))
    if then == "hang":
        while True:
            time.sleep(1)
""" % (SLEEPER, SLEEPER)


def test_timeout_kills_the_whole_tree(method: str, job: Path, limits: Limits) -> None:
    marker = f"kw-marker-{uuid.uuid4().hex}"
    limits = limits.model_copy(update={"timeout_s": 2.5})
    box: dict[str, WorkerOutcome] = {}
    runner = threading.Thread(target=lambda: box.setdefault("o", run_script(job, FORKER, limits, marker, "hang",
                                                                             "setsid")))
    runner.start()
    seen: list[int] = []
    deadline = time.monotonic() + limits.timeout_s
    while time.monotonic() < deadline and len(seen) < 2:
        seen = marked(f"{marker}-kid")
        time.sleep(0.05)
    runner.join(30)
    outcome = box["o"]
    assert len(seen) == 2, "the children never showed up, so their absence afterwards would prove nothing"
    assert outcome.timed_out and outcome.killed_group
    assert limits.timeout_s <= outcome.wall_s < limits.timeout_s + limits.kill_grace_s + 1.5
    assert wait_gone(f"{marker}-kid") == []


def test_timeout_without_pidfds(monkeypatch: pytest.MonkeyPatch, job: Path, limits: Limits) -> None:
    """Older kernels lack pidfd_open: the runner polls instead and still kills everything."""
    force_method(monkeypatch, "none")

    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(isolation.os, "pidfd_open", no_pidfd)
    marker = f"kw-marker-{uuid.uuid4().hex}"
    outcome = run_script(job, FORKER, limits.model_copy(update={"timeout_s": 1.5}), marker, "hang", "setsid")
    assert outcome.timed_out and outcome.wall_s < 1.5 + limits.kill_grace_s + 1.5
    assert (job / "ready").exists()
    assert wait_gone(f"{marker}-kid") == []


def test_concurrent_runs(bwrap, tmp_path: Path, limits: Limits) -> None:
    jobs = [tmp_path / f"job{i}" for i in range(4)]
    for job in jobs:
        job.mkdir()
    outcomes: dict[int, WorkerOutcome] = {}
    threads = [threading.Thread(target=lambda i=i: outcomes.__setitem__(
        i, run_script(jobs[i], f"print({i})", limits))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [outcomes[i].stdout_tail for i in range(4)] == [f"{i}\n" for i in range(4)]


def test_leftovers_are_killed_after_a_normal_exit(method: str, job: Path, limits: Limits) -> None:
    marker = f"kw-marker-{uuid.uuid4().hex}"
    # Without a PID namespace a setsid() orphan escapes (a known gap), so only bwrap gets that one.
    outcome = run_script(job, FORKER, limits, marker, "exit", "setsid" if method == "bwrap" else "plain")
    assert outcome.returncode == 0 and not outcome.timed_out, outcome.stderr_tail
    assert (job / "ready").exists()
    assert wait_gone(f"{marker}-kid") == []
    if method != "bwrap":  # bwrap's namespace takes them down by itself
        assert outcome.killed_group


def test_crash_exit_code_and_recovery(method: str, job: Path, limits: Limits) -> None:
    crashed = run_script(job, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", limits)
    assert crashed.signal == 11 and crashed.signal_name == "SIGSEGV" and not crashed.timed_out
    assert not crashed.ok
    exited = run_script(job, "raise SystemExit(3)", limits)
    assert exited.returncode == 3 and exited.signal is None
    fine = run_script(job, "print('fine')", limits)
    assert fine.ok and fine.stdout_tail == "fine\n"
    assert fine.isolation.method == method


def test_big_output_does_not_hang(bwrap, job: Path, limits: Limits) -> None:
    body = """
        import sys
        sys.stdout.write("x" * 10_000_000 + "\\nEND-OF-OUTPUT\\n")
        sys.stderr.write("e" * 100_000 + "\\nEND-OF-ERRORS\\n")
    """
    outcome = run_script(job, body, limits.model_copy(update={"timeout_s": 20.0}))
    assert outcome.ok, outcome.stderr_tail
    assert outcome.stdout_tail.endswith("END-OF-OUTPUT\n") and len(outcome.stdout_tail) == isolation.TAIL_CHARS
    assert outcome.stderr_tail.endswith("END-OF-ERRORS\n")
    assert (job / "stdout.txt").stat().st_size > 10_000_000


def test_output_flood_is_bounded(bwrap, job: Path, limits: Limits) -> None:
    """A worker printing far more than the policy keeps is drained (never blocked), its file stays bounded and
    says how much was dropped, and the tail is the real end of what it printed."""
    body = """
        import os
        chunk = b"y" * (1 << 20)
        for _ in range(300):  # 300 MiB, in writes the size of a pipe's worth and more
            os.write(1, chunk)
        os.write(1, b"\\nLAST-LINE\\n")
    """
    outcome = run_script(job, body, limits.model_copy(update={"timeout_s": 60.0, "output_mb": 2}))
    assert outcome.ok, outcome.stderr_tail
    kept = (job / "stdout.txt").read_bytes()
    assert len(kept) < 3 * 2**20
    assert outcome.output_dropped_bytes == 300 * 2**20 + len("\nLAST-LINE\n") - 2 * 2**20
    assert b"more bytes of output were dropped" in kept and kept.endswith(b"LAST-LINE\n")
    assert outcome.stdout_tail.endswith("LAST-LINE\n")
    assert any("beyond the 2 MiB kept" in note for note in outcome.notes)


def test_memory_refused_without_a_cgroup(bwrap, job: Path, limits: Limits, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no cgroup can be made, a CPU worker's address space is the cap: an allocation past it is refused
    inside the worker (MemoryError), and the outcome names the cap that applied."""
    monkeypatch.setattr(isolation, "delegated_root", lambda: None)
    body = """
        import json
        try:
            hoard = [bytearray(256 << 20) for _ in range(64)]
            json.dump({"refused": False}, open("result.json", "w"))
        except MemoryError:
            json.dump({"refused": True}, open("result.json", "w"))
    """
    outcome = run_script(job, body, limits.model_copy(update={"address_space_mb": 2048, "memory_mb": 1024}))
    assert outcome.ok, outcome.stderr_tail
    assert result(job) == {"refused": True}
    assert outcome.memory_cap == "address_space" and not outcome.memory_exceeded


def test_memory_cap_uses_a_delegated_cgroup(job: Path, limits: Limits, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With a delegated cgroup v2 folder the runner makes one child per worker with memory.max and no swap, the
    child enters it before exec, the kernel's oom_kill count becomes `memory_exceeded`, and the folder is removed.
    (A stand-in folder: the kernel's side is the cgroup filesystem's, which this machine may not delegate.)"""
    root = tmp_path / "delegated"
    root.mkdir()
    (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
    made: list[Path] = []
    real_init = isolation.MemoryCap.__init__

    def init(self, folder: Path, max_bytes: int) -> None:
        real_init(self, folder, max_bytes)
        (self.folder / "cgroup.procs").write_text("")
        (self.folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        made.append(self.folder)
        self.remove = lambda: made.append(Path((self.folder / "cgroup.procs").read_text() or "nobody"))

    monkeypatch.setenv("KERNELWRIGHT_CGROUP", str(root))
    monkeypatch.setattr(isolation.MemoryCap, "__init__", init)
    outcome = run_script(job, "print('ran')", limits.model_copy(update={"memory_mb": 512}))
    assert outcome.memory_cap == "cgroup" and outcome.memory_exceeded
    folder = made[0]
    assert (folder / "memory.max").read_text() == str(512 * 2**20)
    assert made[1] == Path("0")  # the forked child wrote itself into cgroup.procs before exec
    assert any("at its 512 MiB cap" in note for note in outcome.notes)


def test_delegated_root_needs_the_memory_controller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelwright.sandbox.memory_cap import delegated_root

    monkeypatch.delenv("KERNELWRIGHT_CGROUP", raising=False)
    mount = tmp_path / "cg"
    (mount / "user.slice" / "kw").mkdir(parents=True)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"35 24 0:30 / {mount} rw,nosuid shared:9 - cgroup2 cgroup2 rw\n")
    own = tmp_path / "cgroup"
    own.write_text("0::/user.slice/kw\n")
    assert delegated_root(mountinfo, own) is None  # no cgroup.subtree_control: not delegated
    (mount / "user.slice" / "kw" / "cgroup.subtree_control").write_text("cpu pids\n")
    assert delegated_root(mountinfo, own) is None  # no memory controller for its children
    (mount / "user.slice" / "kw" / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert delegated_root(mountinfo, own) == mount / "user.slice" / "kw"
    own.write_text("12:memory:/x\n")  # cgroup v1 only
    assert delegated_root(mountinfo, own) is None


def test_gpu_worker_gets_only_its_lanes_nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelwright.sandbox import gpu_devices

    dev, driver = tmp_path / "dev", tmp_path / "gpus"
    dev.mkdir()
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1", "nvidia3", "nvidia-modeset",
                 "sda", "nvme0n1"):
        (dev / name).write_text("")
    for bus, minor in (("0000:1b:00.0", 1), ("0000:0a:00.0", 3), ("0000:c1:00.0", 0)):
        (driver / bus).mkdir(parents=True)
        (driver / bus / "information").write_text(f"Model: \t H200\nDevice Minor: \t {minor}\n"
                                                 f"GPU UUID: \t GPU-{minor}{minor}\nBus Location: \t {bus}\n")
    nodes, env, note = gpu_devices.lane_nodes("1", dev, driver)  # PCI order: 0a (minor 3), 1b (minor 1), c1 (0)
    assert sorted(p.name for p in nodes) == ["nvidia-uvm", "nvidia-uvm-tools", "nvidia1", "nvidiactl"]
    assert env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "GPU-11"} and note is None
    every, env, _ = gpu_devices.lane_nodes(None, dev, driver)
    assert sorted(p.name for p in every if p.name[6:].isdigit()) == ["nvidia0", "nvidia1", "nvidia3"]
    assert env == {}
    _, env, note = gpu_devices.lane_nodes("7", dev, driver)
    assert env["CUDA_VISIBLE_DEVICES"] == "7" and "not in the driver's listing" in note

    # The sandbox binds exactly the nodes of the lane it is given over a private /dev, never the host's whole /dev.
    monkeypatch.setattr(isolation, "lane_nodes", lambda lane: gpu_devices.lane_nodes(lane, dev, driver))
    launcher = isolation._Launcher(info=isolation.IsolationInfo(method="bwrap", network="isolated",
                                                                filesystem="confined"), exe="/usr/bin/bwrap")

    def bound(lane: str | None, gpu: bool = True) -> list[str]:
        argv = isolation._bwrap_argv(launcher, tmp_path, writable=[], readable_extra=[], hidden=[], gpu=gpu,
                                     env={}, policy=isolation.load_policy(), notes=[], lane=lane)
        assert argv[argv.index("--dev") + 1] == "/dev"
        binds = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--dev-bind" and argv[i + 1] != "/dev/null"]
        assert "/dev" not in binds
        return sorted(Path(b).name for b in binds)

    assert bound("0") == ["nvidia-uvm", "nvidia-uvm-tools", "nvidia3", "nvidiactl"]
    assert bound("1") == ["nvidia-uvm", "nvidia-uvm-tools", "nvidia1", "nvidiactl"]
    assert bound(None) == ["nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1", "nvidia3", "nvidiactl"]
    assert bound("1", gpu=False) == []  # a CPU worker gets no GPU node, whatever lane its caller holds
    # and the environment names the same GPU: lane "1" is minor 1, GPU-11
    limits = isolation.load_limits("correctness")
    gpu_env, _ = isolation.worker_env(tmp_path, limits, gpu=True, lane="1")
    assert gpu_env["CUDA_VISIBLE_DEVICES"] == "GPU-11" and gpu_env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert isolation.worker_env(tmp_path, limits, gpu=False, lane="1")[0]["CUDA_VISIBLE_DEVICES"] == ""


def test_rlimits_and_stdin(bwrap, job: Path, limits: Limits) -> None:
    body = """
        import json, resource, sys
        names = ["RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_CPU"]
        out = {n: resource.getrlimit(getattr(resource, n))[0] for n in names}
        out["stdin"] = sys.stdin.read()
        json.dump(out, open("result.json", "w"))
    """
    mb = 1024 * 1024
    for gpu in (False, True):
        outcome = run_script(job, body, limits, stdin_bytes=b"inputs here", gpu=gpu)
        assert outcome.ok, outcome.stderr_tail
        out = result(job)
        assert out["RLIMIT_CORE"] == 0
        assert out["RLIMIT_FSIZE"] == limits.file_size_mb * mb
        assert out["RLIMIT_NOFILE"] == limits.open_files
        assert out["RLIMIT_CPU"] == limits.cpu_time_s
        assert out["RLIMIT_AS"] == (-1 if gpu else limits.address_space_mb * mb)  # CUDA maps huge ranges
        assert out["stdin"] == "inputs here"


def test_fallbacks_say_what_they_lack(monkeypatch: pytest.MonkeyPatch) -> None:
    for method, filesystem, network in (("unshare", "shared", "isolated"), ("none", "shared", "shared")):
        info = force_method(monkeypatch, method)
        assert (info.filesystem, info.network) == (filesystem, network)
        assert info.notes
    assert any("no isolation available" in note for note in info.notes)


# ---------------------------------------------------------------------------------------------- policy


def test_limits_load_from_the_policy() -> None:
    limits = {phase: load_limits(phase) for phase in isolation.PHASES}
    assert limits["build"].timeout_s == 600 and limits["correctness"].timeout_s == 180
    assert all(item.file_size_mb == 2048 and item.open_files == 1024 for item in limits.values())
    with pytest.raises(SandboxPolicyError, match="unknown sandbox phase 'compile'"):
        load_limits("compile")


def test_policy_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text('[defaults]\nfile_size_mb = 1\nopen_files = 64\n[phases.quick]\ntimeout_s = 2\n'
                    '[env]\nallow = ["PATH"]\ndeny = ["*_KEY"]\n')
    assert load_limits("quick", path) == Limits(timeout_s=2, file_size_mb=1, open_files=64)
    path.write_text(path.read_text().replace("timeout_s = 2", "timeout = 2"))
    with pytest.raises(SandboxPolicyError, match="invalid"):
        load_limits("quick", path)
    with pytest.raises(SandboxPolicyError, match="unreadable"):
        load_limits("quick", tmp_path / "missing.toml")


def test_read_worker_file_refuses_tricks(job: Path, tmp_path: Path) -> None:
    (job / "result.json").write_text("{}")
    assert read_worker_file(job, "result.json") == b"{}"
    (tmp_path / "secret").write_text("s")
    (job / "link.json").symlink_to(tmp_path / "secret")
    os.mkfifo(job / "fifo.json")
    (job / "big.json").write_bytes(b"x" * 100)
    for name in ("link.json", "fifo.json", "../secret"):
        with pytest.raises(ValueError):
            read_worker_file(job, name)
    with pytest.raises(ValueError, match="limit"):
        read_worker_file(job, "big.json", max_bytes=10)
    with pytest.raises(FileNotFoundError):
        read_worker_file(job, "absent.json")


@pytest.mark.gpu
def test_a_lane_worker_sees_only_its_gpu(bwrap, job: Path, limits: Limits) -> None:
    """On a GPU box: a worker of lane 0 under bwrap gets one GPU node, and CUDA there sees exactly that GPU."""
    from kernelwright.sandbox import gpu_devices

    gpus = gpu_devices.driver_gpus()
    if not gpus:
        pytest.skip("no NVIDIA driver listing here")
    body = """
        import glob, json, torch
        json.dump({"count": torch.cuda.device_count(), "nodes": sorted(glob.glob("/dev/nvidia[0-9]*")),
                   "uuid": str(torch.cuda.get_device_properties(0).uuid)}, open("result.json", "w"))
    """
    outcome = run_script(job, body, limits.model_copy(update={"timeout_s": 120.0}), gpu=True, lane="0")
    assert outcome.ok, outcome.stderr_tail
    seen = result(job)
    assert seen["count"] == 1 and seen["nodes"] == [f"/dev/nvidia{gpus[0].minor}"]
    assert gpus[0].uuid and gpus[0].uuid.removeprefix("GPU-") in seen["uuid"]
