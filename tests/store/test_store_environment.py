import platform
import sys

from kernelwright import __version__
from kernelwright.store import Environment, Run, Store, collect_environment
from kernelwright.store import environment as env_module


def test_collect_environment_without_gpu(monkeypatch):
    monkeypatch.setattr(env_module, "_git_commit", lambda: "0123abcd")  # keep the test off git
    env = collect_environment()
    assert isinstance(env, Environment)
    assert env.python_version == platform.python_version()
    assert env.kernelwright_version == __version__
    assert env.git_commit == "0123abcd"
    assert env.platform and env.hostname
    assert env.gpu_count >= 0
    if env.gpu_count == 0:
        assert env.gpu_name is None
    assert Environment.model_validate_json(env.model_dump_json()) == env


def test_collect_environment_never_raises(monkeypatch):
    def boom():
        raise RuntimeError("broken")

    monkeypatch.setattr(env_module, "_git_commit", boom)
    monkeypatch.setattr(env_module, "_driver_version", boom)
    monkeypatch.setattr(env_module, "_torch_facts", boom)
    env = collect_environment()
    assert env.git_commit is None and env.driver_version is None and env.torch_version is None


def test_run_helper_reports_none_on_failure(tmp_path):
    assert env_module._run(["definitely-not-a-command-kw"]) is None
    assert env_module._run([sys.executable, "-c", "import sys; sys.exit(3)"]) is None
    assert env_module._run([sys.executable, "-c", "import time; time.sleep(5)"], timeout_s=0.2) is None
    assert env_module._run([sys.executable, "-c", "print('a'); print('b')"]) == "a"


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    assert env_module._git_commit(tmp_path) is None


def test_environment_is_stored_with_a_run(tmp_path, monkeypatch):
    monkeypatch.setattr(env_module, "_git_commit", lambda: None)
    env = collect_environment()
    with Store(tmp_path / "kw.db") as store:
        run = store.add(Run(environment=env))
        assert store.get(Run, run.id).environment == env
