from kernelwright.agents.evidence import MAX_FAILURES, MAX_FLAGS, evidence_from, profile_digest
from kernelwright.agents.prompts import render
from kernelwright.profile.models import KernelRow, ProfileReport
from kernelwright.verify.compare import Mismatch
from kernelwright.verify.models import CorrectnessReport, TrialFailure, VerificationResult

PTXAS = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z7softmaxPKfPfi' for 'sm_90'
ptxas info    : Function properties for _Z7softmaxPKfPfi
ptxas info    : Used 64 registers, used 1 barriers, 1024 bytes smem, 380 bytes cmem[0]"""


def _result(**fields) -> VerificationResult:
    base = dict(verdict="RUNTIME_ERROR", summary="s", task="level1/6_softmax", task_hash="0" * 64, device="cuda")
    return VerificationResult(**{**base, **fields})


def test_incorrect_keeps_where_and_by_how_much(results):
    evidence = evidence_from(results["incorrect_elementwise"])
    digest = evidence.failures[0]
    first = digest.first
    assert first.max_abs_error and abs(first.max_abs_error - 4.9436e-05) < 1e-8
    assert first.max_error_at == [11, 387]
    assert first.reference_value and first.candidate_value
    assert "shape 'small' (batch_size=16, features=509), normal inputs" in digest.line
    assert len(evidence.failures) == MAX_FAILURES and evidence.more_failures == 2
    assert evidence.failed_shapes == ["small", "small_odd"]
    assert "heavy_tail" in evidence.failed_distributions


def test_nonfinite_failures_name_the_distributions(results):
    evidence = evidence_from(results["incorrect_nonfinite"])
    assert evidence.verdict == "INCORRECT" and evidence.reason == "nonfinite"
    assert evidence.failed_distributions == ["large", "heavy_tail"]
    assert evidence.failures[0].first.mismatches == 1539 and evidence.failures[0].first.max_abs_error is None


def test_compile_errors_are_trimmed_and_paths_shortened(results):
    evidence = evidence_from(results["compile_fail"])
    assert evidence.compile_errors.startswith("main.cpp: In function")
    assert "main.cpp:11:29: error: ‘cols’ was not declared" in evidence.compile_errors
    assert "/tmp/" not in evidence.compile_errors
    assert evidence.summary == "compilation failed:" and evidence.error is None


def test_long_compile_logs_keep_the_errors():
    log = "\n".join([f"[{i}/3] c++ -O3 -c main.cpp" for i in range(200)]
                    + ["/tmp/kw-build-x/build/cuda.cu(12): error: identifier \"n\" is undefined", "  y[i] = n;"]
                    + ["note: noise"] * 300)
    result = _result(verdict="COMPILE_FAIL", reason="build", summary="compilation failed:\n" + log, error=log,
                     builds=[{"ok": False, "errors": log, "timed_out": False}])
    evidence = evidence_from(result)
    assert "cuda.cu(12): error: identifier \"n\" is undefined\n  y[i] = n;" in evidence.compile_errors
    assert "/tmp/" not in evidence.compile_errors and "noise" not in evidence.compile_errors
    assert len(evidence.compile_errors) < 1000


def test_build_timeout_is_said_plainly():
    result = _result(verdict="TIMEOUT", reason="build", summary="compilation failed:\nNone",
                     builds=[{"ok": False, "errors": None, "timed_out": True}])
    assert "did not finish" in evidence_from(result).compile_errors


def test_static_findings_keep_rule_ids_rejects_first(results):
    evidence = evidence_from(results["static_reject"])
    assert evidence.findings[0].rule == "NATIVE_PROCESS" and evidence.findings[0].severity == "reject"
    assert evidence.findings[0].line == 207 and "std::system" in evidence.findings[0].excerpt
    flagged = _result(verdict="STATIC_REJECT", findings=[
        {"rule": "HOST_SYNC", "severity": "flag", "message": "m1", "line": 3},
        {"rule": "BANNED_MODULE", "severity": "reject", "message": "m2", "line": 1},
    ], flags=["HOST_SYNC: m1", "ISOLATION: no network namespace"])
    digest = evidence_from(flagged)
    assert [f.rule for f in digest.findings] == ["BANNED_MODULE", "HOST_SYNC"]
    assert digest.flags == ["ISOLATION: no network namespace"]


def test_runtime_error_keeps_the_tail():
    trace = "\n".join(f"frame {i}" for i in range(2000)) + "\nRuntimeError: CUDA error: an illegal memory access"
    evidence = evidence_from(_result(error=trace, flags=[f"flag {i}" for i in range(30)]))
    assert evidence.error.endswith("an illegal memory access") and len(evidence.error) <= 2000
    assert len(evidence.flags) == MAX_FLAGS


def test_pass_keeps_timing_and_share(results):
    evidence = evidence_from(results["pass_cpu"])
    timing = evidence.timing
    assert evidence.verdict == "PASS" and evidence.own_kernel_share == 1.0
    assert timing.candidate_ms == 0.04446 and timing.eager_ms == 0.013122 and timing.compile_ms is None
    assert timing.ci_low < timing.speedup_eager < timing.ci_high and timing.faster is False
    assert timing.shape == {"batch_size": 16, "features": 509} and timing.perf == "PERF_VALID"
    text = render("_evidence.j2", evidence=evidence)
    assert "candidate 0.04446 ms" in text and "speedup 0.30x (95% CI 0.29x to 0.30x), slower" in text


def test_probe_failures_and_cuda_ptxas_are_shown():
    failure = TrialFailure(trial="p1", purpose="new_address", shape="nominal", overrides={}, distribution="normal",
                           init=1, mismatches=[Mismatch(output=0, reason="elementwise", detail="stale output")])
    result = _result(verdict="SUSPECT", reason="probe:new_address",
                     correctness=CorrectnessReport(trials_run=9, trials_passed=8, failures=[failure],
                                                   probes={"determinism": "ok", "own_kernels": "never called"}),
                     builds=[{"ok": True, "fast_layout": False, "ptxas": PTXAS}])
    evidence = evidence_from(result)
    text = render("_evidence.j2", evidence=evidence)
    assert "[new_address p1]" in text and "- own_kernels: never called" in text and "determinism" not in text
    assert "Compiling entry function '_Z7softmaxPKfPfi'" in text and "Used 64 registers, used 1 barriers" in text
    assert "Function properties" not in text
    assert evidence.slow_layout and "torch headers" in text


def test_profile_digest_notes_the_fallback_once():
    report = ProfileReport(tool="torch.profiler", device="cuda", ok=True, fallback="no permission for GPU counters",
                           kernels=[KernelRow(name="softmax_kernel", own=True, calls=3, total_us=120.0)])
    text = render("_profile.j2", profile=profile_digest(report))
    assert "profiled with torch.profiler because ncu" in text.lower()
    assert text.count("no permission for GPU counters") == 1
    assert "softmax_kernel" in text
    assert "No profile" in render("_profile.j2", profile=profile_digest(None))
