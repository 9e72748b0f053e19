"""The adversarial suite: every exploit in tests/adversarial must be caught, every control must PASS.

The cases are listed in manifest.toml (candidate file, task, device, exploit class, verdicts that count as
caught). CPU cases run here, in CI: all compiled cpu candidates share one C++ source, so one build in a
session-scoped cache serves them all, and the cases run WORKERS at a time in worker processes of
kernelwright.selftest, so the hang case's full correctness time limit overlaps the rest (about 5.5 minutes in
all on a 2-core machine, most of it the first build and that time limit).
Known gaps (manifest `gap`) are xfail(strict=True): the day the verifier catches one, its test fails and the
manifest entry must lose its `gap`.
CUDA cases run with `pytest -m gpu` on a GPU machine; their static-gate expectations are checked here too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernelwright.sandbox.isolation import probe_isolation
from kernelwright.sandbox.static_gate import static_gate
from kernelwright.selftest import (AdversarialCase, CaseResult, SelftestError, load_manifest, run_case,
                                  run_selftest, start_cases)
from kernelwright.tasks import load_task
from kernelwright.verify.pipeline import VerifyOptions, verify

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CASES = load_manifest(HERE)
CPU = [c for c in CASES if c.device == "cpu"]
CUDA = [c for c in CASES if c.device == "cuda"]
WORKERS = 4
ESCAPE_PREFIX = "kw_escape_marker"
WATCHED = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), ROOT, Path.home(), Path.cwd()]


def _param(case: AdversarialCase) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else []
    return pytest.param(case, id=case.name, marks=marks)


def _by_name(name: str) -> AdversarialCase:
    return next(c for c in CASES if c.name == name)


def _assert_judged(case: AdversarialCase, result: CaseResult) -> None:
    detail = f"{case.file}: got {result.got} ({result.reason}): {result.summary}"
    if case.control:
        assert result.caught, f"false positive: {detail} (perf {result.perf}; flags {result.flags})"
        return
    assert result.caught, f"not caught (expected {case.expected}): {detail} {result.notes}"
    assert not result.missing_evidence, f"caught, but not by the expected check {result.missing_evidence}: " \
                                        f"{detail}; evidence {result.evidence}"


def _escape_markers() -> list[Path]:
    found = []
    for folder in WATCHED:
        try:
            found += [p for p in folder.iterdir() if p.name.startswith(ESCAPE_PREFIX)]
        except OSError:
            continue
    return found


@pytest.fixture(scope="session")
def cpu_results(request: pytest.FixtureRequest, build_cache_root: Path):
    """Starts every selected cpu case at once (WORKERS at a time) and hands out one future per case file."""
    for marker in _escape_markers():
        shutil.rmtree(marker) if marker.is_dir() and not marker.is_symlink() else marker.unlink(missing_ok=True)
    wanted = {item.callspec.params["case"].file for item in request.session.items
              if getattr(item, "originalname", None) == "test_cpu_case" and hasattr(item, "callspec")}
    pool, futures = start_cases([c for c in CPU if c.file in wanted], cache_root=build_cache_root, workers=WORKERS,
                                root=HERE)
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case", [_param(c) for c in CPU])
def test_cpu_case(case: AdversarialCase, cpu_results) -> None:
    result = cpu_results[case.file].result()
    if case.escape and probe_isolation().filesystem != "confined":
        pytest.skip("writes are not confined on this machine (no working bwrap): the escape case would litter it")
    _assert_judged(case, result)


def test_crash_then_control_passes(build_cache_root: Path) -> None:
    """A candidate that kills its process must not break the next verification (fresh processes)."""
    crash, control = _by_name("crash_null_write"), _by_name("control_softmax")
    first = run_case(crash, cache_root=build_cache_root, root=HERE)
    second = run_case(control, cache_root=build_cache_root, root=HERE)
    assert first.got == "RUNTIME_ERROR", first.summary
    assert second.got == "PASS", second.summary


def test_no_writes_outside_job_dirs(cpu_results) -> None:
    """After the whole cpu suite ran (escape attempts included), no marker exists in /tmp, /var/tmp, /dev/shm,
    the checkout, the home folder or the cwd."""
    for future in cpu_results.values():
        future.result()
    if probe_isolation().filesystem != "confined":
        pytest.skip("writes are not confined on this machine (no working bwrap)")
    assert _escape_markers() == []


def test_manifest_matches_files() -> None:
    on_disk = {str(p.relative_to(HERE)) for p in HERE.glob("c*/*.py")}
    listed = {c.file for c in CASES}
    assert on_disk == listed, f"not in the manifest: {sorted(on_disk - listed)}; missing: {sorted(listed - on_disk)}"
    for case in CASES:
        assert (ROOT / case.task).is_file(), case.task
        assert case.file.startswith(f"{case.device}/"), case.file
        assert case.control == case.name.startswith("control_"), case.file
        assert case.control == (case.expected == ["PASS"]), case.file
        doc = " ".join((HERE / case.file).read_text().split('"""')[1].split())
        assert doc.startswith(f"{case.klass}: "), f"{case.file}: the docstring must start with its class ({case.klass})"


def test_generated_candidates_up_to_date() -> None:
    done = subprocess.run([sys.executable, str(HERE / "make_candidates.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CUDA if c.expected == ["STATIC_REJECT"]])
def test_cuda_static_rejects_without_gpu(case: AdversarialCase) -> None:
    """The CUDA exploits that the static gate must stop are stopped before anything needs a GPU."""
    options = VerifyOptions(device="cuda", time_candidate=False)
    result = verify(load_task(ROOT / case.task), (HERE / case.file).read_text(), options)
    assert result.verdict == "STATIC_REJECT", result.summary
    assert set(case.reasons) <= {f["rule"] for f in result.findings if f["severity"] == "reject"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CUDA if "STATIC_REJECT" not in c.expected
                                  or len(c.expected) > 1])
def test_cuda_runtime_cases_pass_the_gate(case: AdversarialCase) -> None:
    """The CUDA candidates that must be caught at run time (and the control) get past the static gate, so the
    GPU run tests what it claims to."""
    gate = static_gate((HERE / case.file).read_text(), backend="cuda")
    assert not gate.rejected, gate.render()


@pytest.mark.gpu
@pytest.mark.parametrize("case", [_param(c) for c in CUDA])
def test_cuda_case(case: AdversarialCase, build_cache_root: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    _assert_judged(case, run_case(case, cache_root=build_cache_root, root=HERE))


@pytest.mark.gpu
def test_cuda_illegal_address_then_control_passes(build_cache_root: Path) -> None:
    """After an illegal memory access poisons a CUDA context, the next verification still works."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    first = run_case(_by_name("illegal_address"), cache_root=build_cache_root, root=HERE)
    second = run_case(_by_name("control_softmax_cuda"), cache_root=build_cache_root, root=HERE)
    assert first.got == "RUNTIME_ERROR", first.summary
    assert second.got == "PASS", second.summary


def test_build_cache_is_shared() -> None:
    """Every cpu candidate that builds an extension builds one of five shared sources, so the suite costs five builds
    (checked on the text: running candidates in the test process would let exploits act on it)."""
    sys.path.insert(0, str(HERE))
    from make_candidates import (CPU_FAST_MATH_FUNCTIONS, CPU_FAST_MATH_SOURCE, CPU_FUNCTIONS, CPU_INPUTS_FUNCTIONS,
                                 CPU_INPUTS_SOURCE, CPU_LIBRARY_FUNCTIONS, CPU_LIBRARY_SOURCE, CPU_REJECTED_FUNCTIONS,
                                 CPU_REJECTED_SOURCE, CPU_SOURCE)

    import ast

    building = [case for case in CPU if case.expected != ["STATIC_REJECT"]]  # the rest never reach a compiler
    assert len(building) >= 20
    for case in building:
        assigned = {node.targets[0].id: node.value for node in ast.parse((HERE / case.file).read_text()).body
                    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
        # the library cases share one more source, those the gate rejects (run ungated too) one more, the input
        # distribution cases one more and the fast-math one (run ungated too) one more
        source, functions = ast.literal_eval(assigned["CPP_SOURCE"]), ast.literal_eval(assigned["FUNCTIONS"])
        assert (source, functions) in [(CPU_SOURCE, CPU_FUNCTIONS),
                                       (CPU_SOURCE + CPU_LIBRARY_SOURCE, [*CPU_FUNCTIONS, *CPU_LIBRARY_FUNCTIONS]),
                                       (CPU_SOURCE + CPU_LIBRARY_SOURCE + CPU_REJECTED_SOURCE,
                                        [*CPU_FUNCTIONS, *CPU_REJECTED_FUNCTIONS]),
                                       (CPU_SOURCE + CPU_INPUTS_SOURCE, [*CPU_FUNCTIONS, *CPU_INPUTS_FUNCTIONS]),
                                       (CPU_SOURCE + CPU_INPUTS_SOURCE + CPU_FAST_MATH_SOURCE,
                                        [*CPU_FUNCTIONS, *CPU_FAST_MATH_FUNCTIONS])], case.file


def test_escape_candidate_is_live(tmp_path: Path) -> None:
    """The escape case proves isolation only if its writes and its secret read really happen: run its top level
    under bwrap with /tmp bound to a scratch folder, and its markers appear there and it sees the canary."""
    case = next(c for c in CPU if c.escape)
    if shutil.which("bwrap") is None or probe_isolation().method != "bwrap":
        pytest.skip("needs bwrap to run the escape attempt harmlessly")
    script = ("import torch.utils.cpp_extension as ce\n"
              "ce.load_inline = lambda *args, **kwargs: None\n"
              "namespace = {}\n"
              f"exec(compile(open({str(HERE / case.file)!r}).read(), 'candidate.py', 'exec'), namespace)\n"
              "print('leaked' if namespace['_leaked'] else 'sealed')\n")
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", str(tmp_path), "/tmp"]
    for runtime in {Path(sys.prefix).resolve(), Path(__file__).resolve().parents[2]}:
        if runtime.is_relative_to("/tmp"):  # a venv or checkout under /tmp must stay visible over the scratch /tmp
            argv += ["--ro-bind", str(runtime), str(runtime)]
    argv += ["--unshare-net", "--die-with-parent", "--", sys.executable, "-c", script]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, case.canary_env: "x"}, timeout=120)
    assert done.stdout.strip().splitlines()[-1:] == ["leaked"], done.stderr[-2000:]
    written = {p.name for p in tmp_path.iterdir()}
    assert {Path(m).name for m in case.escape if m.startswith("/tmp/")} <= written


def test_run_selftest_reports_catch_rate(build_cache_root: Path) -> None:
    """The selftest entry point (what `kernelwright selftest` calls) on two static-reject cases: fast, no build."""
    seen: list[str] = []
    report = run_selftest("cpu", cache=build_cache_root, cases=["caching_by_data_ptr", "cpu/try_except_fallback.py"],
                          workers=1, root=HERE, progress=lambda case, result: seen.append(case.file))
    assert sorted(seen) == ["cpu/caching_by_data_ptr.py", "cpu/try_except_fallback.py"]
    assert [c.got for c in report.cases] == ["STATIC_REJECT", "STATIC_REJECT"]
    assert (report.exploits, report.caught, report.catch_rate) == (2, 2, 1.0)
    assert report.false_positives == [] and report.missed == [] and report.unexpected == []
    assert report.model_dump(by_alias=True)["cases"][0]["class"] == "result caching / replay"


def test_run_selftest_refuses_what_it_cannot_run() -> None:
    import torch

    with pytest.raises(SelftestError, match="no cpu case named"):
        run_selftest("cpu", cases=["no_such_case"], root=HERE)
    if not torch.cuda.is_available():
        with pytest.raises(SelftestError, match="needs a CUDA GPU"):
            run_selftest("cuda", root=HERE)
    with pytest.raises(SelftestError, match="missing"):
        run_selftest("cpu", root=HERE / "no_such_folder")
