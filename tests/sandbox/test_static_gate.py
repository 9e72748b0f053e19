"""Static gate: honest candidates pass, one exploit per rule family is caught, the policy is consistent."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from kernelwright.sandbox import static_gate as gate_module
from kernelwright.sandbox.policy import StaticPolicy, default_static_rules_path, load_static_policy
from kernelwright.sandbox.static_gate import GateResult, static_gate


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def rejects(result: GateResult) -> set[str]:
    return result.rule_ids("reject")


def flags(result: GateResult) -> set[str]:
    return result.rule_ids("flag")


def finding(result: GateResult, rule: str):
    hits = [f for f in result.findings if f.rule == rule]
    assert hits, f"expected {rule}, got {result.render()}"
    return hits[0]


# ------------------------------------------------------------------------------ honest candidates

HONEST_CPU = src('''
    """ReLU on the cpu backend: C++ with OpenMP."""
    import torch
    import torch.nn as nn
    from torch.utils.cpp_extension import load_inline

    cpp_source = r"""
    #include <torch/extension.h>
    #include <omp.h>
    #include <cmath>
    #include <vector>
    #include <algorithm>

    // Plain loop; no std::thread, no getenv, no system() -- OpenMP does the threading.
    torch::Tensor relu_forward(torch::Tensor x) {
        TORCH_CHECK(x.is_contiguous(), "x must be contiguous");
        auto out = torch::empty_like(x);
        const float* in = x.data_ptr<float>();
        float* o = out.data_ptr<float>();
        const int64_t n = x.numel();
        /* a block comment mentioning fopen( and socket( */
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; ++i) {
            o[i] = std::max(in[i], 0.0f);
        }
        return out;
    }
    """

    relu_ext = load_inline(
        name="relu_cpu",
        cpp_sources=cpp_source,
        functions=["relu_forward"],
        extra_cflags=["-O3", "-fopenmp"],
        extra_ldflags=[],
    )


    class ModelNew(nn.Module):
        def __init__(self):
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return relu_ext.relu_forward(x.contiguous())
''')

HONEST_CUDA = src('''
    import torch
    import torch.nn as nn
    from torch.utils.cpp_extension import load_inline

    cuda_source = """
    #include <torch/extension.h>
    #include <cuda_runtime.h>
    #include <ATen/cuda/CUDAContext.h>
    #include <c10/cuda/CUDAGuard.h>

    __global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int rows, int cols) {
        extern __shared__ float smem[];
        int row = blockIdx.x;
        if (row >= rows) return;
        const float* xr = x + (size_t)row * cols;
        float* yr = y + (size_t)row * cols;
        float m = -INFINITY;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
        smem[threadIdx.x] = m;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) smem[threadIdx.x] = fmaxf(smem[threadIdx.x], smem[threadIdx.x + s]);
            __syncthreads();
        }
        m = smem[0];
        __syncthreads();
        float sum = 0.f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(xr[c] - m);
        smem[threadIdx.x] = sum;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) smem[threadIdx.x] += smem[threadIdx.x + s];
            __syncthreads();
        }
        sum = smem[0];
        for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - m) / sum;
    }

    torch::Tensor softmax_cuda(torch::Tensor x) {
        TORCH_CHECK(x.is_cuda(), "x must be a CUDA tensor");
        const at::cuda::OptionalCUDAGuard guard(x.device());
        auto y = torch::empty_like(x);
        int rows = x.size(0), cols = x.size(1);
        int threads = 256;
        auto stream = at::cuda::getCurrentCUDAStream();
        softmax_kernel<<<rows, threads, threads * sizeof(float), stream>>>(
            x.data_ptr<float>(), y.data_ptr<float>(), rows, cols);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        return y;
    }
    """

    cpp_source = "torch::Tensor softmax_cuda(torch::Tensor x);"

    softmax_ext = load_inline(
        name="softmax_ext",
        cpp_sources=cpp_source,
        cuda_sources=cuda_source,
        functions=["softmax_cuda"],
        extra_cuda_cflags=["-O3", "-lineinfo"],
        verbose=False,
    )


    class ModelNew(nn.Module):
        def __init__(self):
            super().__init__()
            self.ext = softmax_ext

        def forward(self, x):
            x = x.contiguous()
            return self.ext.softmax_cuda(x.view(x.size(0), -1)).view_as(x)
''')

# Torch-free layout: the CUDA file has only <cuda_runtime.h> and an extern "C" launcher; the C++
# wrapper owns torch.
HONEST_TORCH_FREE_CUDA = r"""
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cstdint>

template <int BLOCK>
__global__ void scale_kernel(const float* __restrict__ x, float* __restrict__ y, float a, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * BLOCK + threadIdx.x;
    if (i < n) y[i] = a * x[i];
}

extern "C" void launch_scale(const float* x, float* y, float a, int64_t n, cudaStream_t stream) {
    constexpr int BLOCK = 256;
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
    scale_kernel<BLOCK><<<(unsigned)blocks, BLOCK, 0, stream>>>(x, y, a, n);
}
"""

HONEST_TORCH_FREE_CPP = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

extern "C" void launch_scale(const float* x, float* y, float a, int64_t n, cudaStream_t stream);

torch::Tensor scale(torch::Tensor x, double a) {
    TORCH_CHECK(x.is_cuda() && x.is_contiguous(), "x must be a contiguous CUDA tensor");
    auto y = torch::empty_like(x);
    launch_scale(x.data_ptr<float>(), y.data_ptr<float>(), (float)a, x.numel(),
                 at::cuda::getCurrentCUDAStream());
    return y;
}
"""

HONEST_TORCH_FREE = src('''
    import torch
    import torch.nn as nn
    from torch.utils.cpp_extension import load_inline

    CUDA_SRC = {cuda!r}
    CPP_SRC = {cpp!r}

    _ext = load_inline(
        name="scale_ext",
        cpp_sources=[CPP_SRC],
        cuda_sources=[CUDA_SRC],
        functions=["scale"],
    )


    class ModelNew(nn.Module):
        def __init__(self, alpha: float = 2.0):
            super().__init__()
            self.alpha = alpha

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return _ext.scale(x.contiguous(), self.alpha)
''').format(cuda=HONEST_TORCH_FREE_CUDA, cpp=HONEST_TORCH_FREE_CPP)


def test_honest_cpu_candidate_passes():
    result = static_gate(HONEST_CPU, backend="cpu")
    assert not result.rejected, result.render()
    assert result.findings == [], result.render()


def test_honest_cuda_candidate_passes():
    result = static_gate(HONEST_CUDA, backend="cuda")
    assert not result.rejected, result.render()
    assert result.findings == [], result.render()


def test_honest_torch_free_layout_passes_with_recorded_native_sources():
    result = static_gate(HONEST_TORCH_FREE, [HONEST_TORCH_FREE_CPP, HONEST_TORCH_FREE_CUDA], backend="cuda")
    assert not result.rejected, result.render()
    assert result.findings == [], result.render()


def test_honest_candidate_with_glue_only_gets_expected_flags():
    source = HONEST_CUDA.replace(
        "return self.ext.softmax_cuda(x.view(x.size(0), -1)).view_as(x)",
        "y = self.ext.softmax_cuda(x.view(x.size(0), -1)).view_as(x)\n"
        "        return torch.nn.functional.dropout(y, 0.0, self.training)",
    )
    result = static_gate(source)
    assert not result.rejected, result.render()
    assert flags(result) == {"TORCH_COMPUTE_IN_FORWARD"}
    assert "torch.nn.functional.dropout" in finding(result, "TORCH_COMPUTE_IN_FORWARD").message


# ------------------------------------------------------------------------------------- structure

def test_syntax_error_is_reported_with_line():
    result = static_gate("import torch\n\nclass ModelNew(nn.Module)\n    pass\n")
    f = finding(result, "PY_SYNTAX")
    assert f.severity == "reject" and f.line == 3


def test_missing_modelnew():
    result = static_gate("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    f = finding(result, "NO_MODELNEW")
    assert f.severity == "reject"
    assert "class ModelNew(nn.Module)" in f.message


def _with_forward(body: str, *, header: str = "", init: str = "pass", extra: str = "") -> str:
    """A minimal candidate with `body` as the forward body."""
    return (
        "import torch\nimport torch.nn as nn\n" + src(header) + "\n"
        + src(extra) + "\n"
        "class ModelNew(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        + textwrap.indent(src(init), " " * 8) + "\n"
        "    def forward(self, x):\n"
        + textwrap.indent(src(body), " " * 8) + "\n"
    )


def test_modelnew_subclassing_model():
    code = "import torch.nn as nn\nfrom reference import Model\n\nclass ModelNew(Model):\n    pass\n"
    result = static_gate(code)
    f = finding(result, "MODELNEW_BASE")
    assert f.severity == "reject" and f.line == 4
    assert "REFERENCE_MODEL_USE" in rejects(result)


def test_modelnew_other_base_and_decorator():
    code = "import torch\nclass Base(torch.nn.Module):\n    pass\n\n@some_decorator\nclass ModelNew(Base):\n    pass\n"
    result = static_gate(code)
    assert "MODELNEW_BASE" in rejects(result)


def test_allowed_modelnew_bases():
    for header, base in [("import torch.nn as nn", "nn.Module"), ("import torch", "torch.nn.Module"),
                         ("from torch.nn import Module", "Module")]:
        code = f"{header}\nclass ModelNew({base}):\n    def forward(self, x):\n        return x\n"
        result = static_gate(code)
        assert "MODELNEW_BASE" not in result.rule_ids(), (base, result.render())


def test_calling_reference_model_inside_modelnew():
    code = _with_forward("return self.ref(x)", init="self.ref = Model()")
    result = static_gate(code)
    f = finding(result, "REFERENCE_MODEL_USE")
    assert f.severity == "reject"
    assert f.line == code.splitlines().index("        self.ref = Model()") + 1


# ----------------------------------------------------------------------------------- modules etc.

@pytest.mark.parametrize("statement, module", [
    ("import subprocess", "subprocess"),
    ("import ctypes", "ctypes"),
    ("from threading import Thread", "threading"),
    ("import socket", "socket"),
    ("from concurrent.futures import ThreadPoolExecutor", "concurrent"),
    ("import time", "time"),
    ("import sys", "sys"),
    ("import pickle", "pickle"),
    ("import importlib", "importlib"),
    ("import torch.multiprocessing as mp", "torch.multiprocessing"),
])
def test_banned_imports(statement, module):
    code = _with_forward("return x", header=statement)
    result = static_gate(code)
    f = finding(result, "BANNED_MODULE")
    assert f.severity == "reject" and module in f.message
    assert f.line == 3


def test_flagged_imports_do_not_reject():
    result = static_gate(_with_forward("return x", header="import os\nimport numpy as np\nimport random"))
    assert not result.rejected, result.render()
    assert flags(result) == {"FLAGGED_MODULE"}


def test_os_environ_read_is_rejected():
    code = _with_forward("return x", header="import os\narch = os.environ.get('TORCH_CUDA_ARCH_LIST')")
    result = static_gate(code)
    f = finding(result, "OS_CALL")
    assert f.severity == "reject" and f.line == 4
    assert "os.environ" in f.message


@pytest.mark.parametrize("line", ["os.system('nvidia-smi')", "os.getenv('HOME')", "os.execv('/bin/sh', [])",
                                  "os.remove('/tmp/x')"])
def test_os_process_and_file_calls(line):
    result = static_gate(_with_forward("return x", header=f"import os\n{line}"))
    assert "OS_CALL" in rejects(result)


def test_from_os_import_environ():
    result = static_gate(_with_forward("return x", header="from os import environ"))
    assert "OS_CALL" in rejects(result)


@pytest.mark.parametrize("expr, rule", [
    ("exec('import os')", "DYNAMIC_CODE"),
    ("eval('1+1')", "DYNAMIC_CODE"),
    ("__import__('subprocess')", "DYNAMIC_CODE"),
    ("compile('x', 'f', 'exec')", "DYNAMIC_CODE"),
    ("open('/etc/passwd').read()", "PY_FILE_IO"),
    ("globals()['torch']", "INTROSPECTION"),
    ("().__class__.__bases__[0].__subclasses__()", "INTROSPECTION"),
    ("getattr(torch, 'allclose')", "DYNAMIC_ATTR_ON_MODULE"),
    ("torch.save(x, 'out.pt')", "PY_FILE_IO"),
])
def test_dynamic_code_and_introspection(expr, rule):
    code = _with_forward(f"y = {expr}\nreturn x")
    result = static_gate(code)
    f = finding(result, rule)
    assert f.severity == "reject"
    assert f.line == code.splitlines().index(f"        y = {expr}") + 1


def test_dynamic_attr_with_computed_name_is_flagged():
    result = static_gate(_with_forward("name = 'w'\nreturn getattr(self, name)"))
    assert finding(result, "DYNAMIC_ATTR").severity == "flag"
    assert not result.rejected


# -------------------------------------------------------------------------------------- tampering

@pytest.mark.parametrize("patch", [
    "torch.allclose = lambda *a, **k: True",
    "torch.cuda.Event = object",
    "F.relu = lambda t: t",
    "nn.functional.softmax = None",
    "torch.Tensor.__eq__ = lambda a, b: True",
    "del torch.testing.assert_close",
])
def test_monkeypatching_torch_is_rejected(patch):
    code = _with_forward("return x", header=f"import torch.nn.functional as F\n{patch}")
    result = static_gate(code)
    f = finding(result, "MONKEYPATCH")
    assert f.severity == "reject" and f.line == 4


def test_monkeypatching_time_perf_counter():
    code = _with_forward("return x", header="import time\ntime.perf_counter = lambda: 0.0")
    result = static_gate(code)
    assert finding(result, "MONKEYPATCH").line == 4
    assert "BANNED_MODULE" in rejects(result)


def test_setattr_on_torch():
    code = _with_forward("setattr(torch, 'allclose', lambda *a, **k: True)\nreturn x")
    result = static_gate(code)
    assert finding(result, "MONKEYPATCH").severity == "reject"


def test_monkeypatch_through_alias_assignment():
    code = _with_forward("return x", header="T = torch\nT.allclose = None")
    assert "MONKEYPATCH" in rejects(static_gate(code))


def test_class_mutation_and_lazy_tensor_subclass():
    lazy = src('''
        class Lazy(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return super().__torch_function__(func, types, args, kwargs or {})
    ''')
    code = _with_forward("out = x.clone()\nout.__class__ = Lazy\nreturn out", extra=lazy)
    result = static_gate(code)
    assert {"LAZY_TENSOR", "CLASS_MUTATION"} <= rejects(result)
    subclass_line = code.splitlines().index("class Lazy(torch.Tensor):") + 1
    assert any(f.rule == "LAZY_TENSOR" and f.line == subclass_line for f in result.findings)


def test_as_subclass_is_lazy_tensor():
    assert "LAZY_TENSOR" in rejects(static_gate(_with_forward("return x.as_subclass(MyT)")))


@pytest.mark.parametrize("line", [
    "s = torch.cuda.Stream()",
    "ctx = torch.cuda.stream(torch.cuda.current_stream())",
    "g = torch.cuda.CUDAGraph()",
    "torch.cuda.set_stream(torch.cuda.current_stream())",
    "e = torch.cuda.Event(enable_timing=True)",
])
def test_python_streams_events_graphs(line):
    code = _with_forward(f"{line}\nreturn x")
    result = static_gate(code)
    f = finding(result, "PY_STREAM")
    assert f.severity == "reject"
    assert f.line == code.splitlines().index(f"        {line}") + 1


def test_stream_imported_by_name():
    assert "PY_STREAM" in rejects(static_gate(_with_forward("return x", header="from torch.cuda import Stream")))


@pytest.mark.parametrize("line", [
    "torch.backends.cuda.matmul.allow_tf32 = True",
    "torch.backends.cudnn.benchmark = True",
    "torch.set_float32_matmul_precision('medium')",
    "torch.set_default_dtype(torch.float16)",
    "torch.use_deterministic_algorithms(False)",
    "torch.manual_seed(0)",
    "torch.backends.cuda.enable_flash_sdp(False)",
])
def test_global_flags(line):
    code = _with_forward("return x", header=line)
    f = finding(static_gate(code), "GLOBAL_FLAG")
    assert f.severity == "reject" and f.line == 3


def test_reading_backend_flags_is_fine():
    code = _with_forward("assert not torch.backends.cuda.matmul.allow_tf32\n"
                         "ok = torch.backends.cudnn.is_available()\nreturn x")
    assert "GLOBAL_FLAG" not in static_gate(code).rule_ids()


# ---------------------------------------------------------------------------------------- forward

def test_try_except_fallback_in_forward():
    body = src('''
        try:
            return ext.fast(x)
        except Exception:
            return torch.softmax(x, dim=-1)
    ''')
    code = _with_forward(body)
    result = static_gate(code)
    f = finding(result, "TRY_IN_FORWARD")
    assert f.severity == "reject"
    assert f.line == code.splitlines().index("        try:") + 1
    assert "let errors surface" in f.message


def test_try_except_in_helper_reached_from_forward():
    helper = src('''
        def _run(x):
            try:
                return ext.fast(x)
            except RuntimeError:
                return x
    ''')
    result = static_gate(_with_forward("return _run(x)", extra=helper))
    assert "TRY_IN_FORWARD" in rejects(result)


def test_suppress_in_forward():
    code = _with_forward("with contextlib.suppress(Exception):\n    return ext.fast(x)\nreturn x",
                         header="import contextlib")
    assert "TRY_IN_FORWARD" in rejects(static_gate(code))


def test_try_around_build_at_module_level_is_flagged():
    header = src('''
        from torch.utils.cpp_extension import load_inline
        try:
            ext = load_inline(name="e", cpp_sources="int f();", functions=["f"])
        except Exception:
            ext = None
    ''')
    result = static_gate(_with_forward("return x", header=header))
    f = finding(result, "TRY_AROUND_BUILD")
    assert f.severity == "flag" and f.line == 4
    assert "TRY_IN_FORWARD" not in result.rule_ids()


def test_data_ptr_caching_in_forward():
    body = src('''
        key = (x.data_ptr(), tuple(x.shape))
        if key in self.cache:
            return self.cache[key]
        out = ext.fast(x)
        self.cache[key] = out
        return out
    ''')
    code = _with_forward(body, init="self.cache = {}")
    result = static_gate(code)
    f = finding(result, "RESULT_CACHING")
    assert f.severity == "reject"
    assert f.line == code.splitlines().index("        key = (x.data_ptr(), tuple(x.shape))") + 1
    assert "STATE_WRITE_IN_FORWARD" in flags(result)


def test_id_caching_in_forward():
    assert "RESULT_CACHING" in rejects(static_gate(_with_forward("k = id(x)\nreturn x")))


def test_host_sync_and_compile_are_flags():
    result = static_gate(_with_forward("n = x.sum().item()\nreturn x.cpu()",
                                       header="fast = torch.compile(lambda t: t)"))
    assert {"HOST_SYNC", "TORCH_COMPILE", "TORCH_COMPUTE_IN_FORWARD"} <= flags(result)
    assert not result.rejected, result.render()


def test_torch_compute_in_forward_lists_ops_but_not_allocations():
    body = src('''
        out = torch.empty_like(x)
        z = torch.zeros(3, device=x.device)
        y = torch.matmul(x, x.t()) @ x
        return F.softmax(y.view(-1), dim=0) + self.lin(x).reshape(-1)
    ''')
    code = _with_forward(body, header="import torch.nn.functional as F", init="self.lin = nn.Linear(4, 4)")
    f = finding(static_gate(code), "TORCH_COMPUTE_IN_FORWARD")
    assert f.severity == "flag"
    for op in ("torch.matmul", "torch.nn.functional.softmax", "@", "torch.nn.Linear"):
        assert op in f.message
    for op in ("empty_like", "zeros", "reshape"):
        assert op not in f.message


def test_exploit_class_combination_is_reported_per_rule():
    code = _with_forward("import threading\nthreading.Thread(target=ext.fast, args=(x,)).start()\nreturn x")
    assert "BANNED_MODULE" in rejects(static_gate(code))


# ------------------------------------------------------------------------------------ native rules

def _native_candidate(body: str, *, extra_includes: str = "") -> str:
    cuda = (
        "#include <torch/extension.h>\n#include <cuda_runtime.h>\n" + extra_includes
        + "__global__ void k(float* y) { y[threadIdx.x] = 0.f; }\n"
        + "torch::Tensor run(torch::Tensor x) {\n"
        + "    auto y = torch::empty_like(x);\n"
        + textwrap.indent(src(body), "    ")
        + "    k<<<1, 32>>>(y.data_ptr<float>());\n    return y;\n}\n"
    )
    return cuda


NATIVE_EXPLOITS = [
    ("NATIVE_STREAM", "cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);\n"),
    ("NATIVE_STREAM", "auto s = at::cuda::getStreamFromPool();\nat::cuda::setCurrentCUDAStream(s);\n"),
    ("NATIVE_GRAPH", "cudaGraph_t g; cudaStreamBeginCapture(0, cudaStreamCaptureModeGlobal);\n"),
    ("NATIVE_L2_PERSIST", "cudaStreamAttrValue a; a.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;\n"),
    ("NATIVE_L2_PERSIST", "cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, 1 << 20);\n"),
    ("NATIVE_HOST_THREAD", "std::thread t([]{}); t.detach();\n"),
    ("NATIVE_HOST_THREAD", "auto f = std::async(std::launch::async, []{ return 1; });\n"),
    ("NATIVE_HOST_THREAD", "pthread_t t; pthread_create(&t, nullptr, nullptr, nullptr);\n"),
    ("NATIVE_PROCESS", "system(\"nvidia-smi\");\n"),
    ("NATIVE_PROCESS", "FILE* p = popen(\"ls\", \"r\");\n"),
    ("NATIVE_PROCESS", "if (fork() == 0) execvp(\"sh\", nullptr);\n"),
    ("NATIVE_FILE_IO", "FILE* f = fopen(\"/tmp/answers.bin\", \"rb\");\n"),
    ("NATIVE_FILE_IO", "std::ofstream out(\"/tmp/log\");\n"),
    ("NATIVE_NETWORK", "int s = socket(AF_INET, SOCK_STREAM, 0);\n"),
    ("NATIVE_DYNLOAD", "void* h = dlopen(\"libcuda.so\", RTLD_NOW);\n"),
    ("NATIVE_ENV", "const char* v = getenv(\"KERNELWRIGHT_PHASE\");\n"),
    ("NATIVE_ENV", "setenv(\"X\", \"1\", 1);\n"),
    ("NATIVE_DEVICE_STATE", "cudaDeviceReset();\n"),
    ("NATIVE_GLOBAL_FLAG", "at::globalContext().setAllowTF32CuBLAS(true);\n"),
    ("NATIVE_PYTHON_CAPI", "PyRun_SimpleString(\"import torch; torch.allclose = lambda *a: True\");\n"),
]


@pytest.mark.parametrize("rule, body", NATIVE_EXPLOITS)
def test_native_exploits_in_recorded_sources(rule, body):
    native = _native_candidate(body)
    result = static_gate(HONEST_CUDA, [native])
    f = finding(result, rule)
    assert f.severity == "reject" and f.origin == "native"
    first_body_line = native.splitlines().index("    auto y = torch::empty_like(x);") + 2
    assert f.line == first_body_line


@pytest.mark.parametrize("rule, body", NATIVE_EXPLOITS)
def test_native_exploits_in_python_string_literals(rule, body):
    native = _native_candidate(body)
    code = HONEST_CUDA.replace("cpp_source = \"torch::Tensor softmax_cuda(torch::Tensor x);\"",
                               f"cpp_source = {native!r}")
    result = static_gate(code)
    f = finding(result, rule)
    assert f.severity == "reject" and f.origin == "native"


def test_native_findings_in_triple_quoted_literal_have_python_line_numbers():
    code = HONEST_CUDA.replace("    int threads = 256;\n", "    int threads = 256;\n    std::thread t([]{});\n")
    result = static_gate(code)
    f = finding(result, "NATIVE_HOST_THREAD")
    assert f.line == code.splitlines().index("    std::thread t([]{});") + 1
    assert f.excerpt == "std::thread t([]{});"


def test_same_line_in_literal_and_recorded_source_is_reported_once():
    native = _native_candidate("const char* v = getenv(\"X\");\n")
    code = HONEST_CUDA.replace("cpp_source = \"torch::Tensor softmax_cuda(torch::Tensor x);\"",
                               f"cpp_source = {native!r}")
    result = static_gate(code, [native])
    assert [f.rule for f in result.findings].count("NATIVE_ENV") == 1


def test_unknown_include_names_the_header():
    native = _native_candidate("", extra_includes="#include \"/etc/passwd\"\n#include <boost/asio.hpp>\n")
    result = static_gate(HONEST_CUDA, [native])
    unknown = [f for f in result.findings if f.rule == "NATIVE_INCLUDE_UNKNOWN"]
    assert {f.line for f in unknown} == {3, 4}
    assert any("/etc/passwd" in f.message for f in unknown)
    assert any("boost/asio.hpp" in f.message for f in unknown)
    assert all(f.severity == "reject" for f in unknown)


def test_library_include_and_call_are_flags():
    native = _native_candidate("auto z = at::matmul(x, x);\n", extra_includes="#include <cublas_v2.h>\n")
    result = static_gate(HONEST_CUDA, [native])
    assert {"NATIVE_LIBRARY_INCLUDE", "LIBRARY_CALL_NATIVE"} <= flags(result)
    assert not result.rejected, result.render()
    assert "at::matmul" in finding(result, "LIBRARY_CALL_NATIVE").message


def test_inline_asm_and_event_record_are_flags():
    native = _native_candidate("asm volatile(\"membar.gl;\");\ncudaEvent_t e; cudaEventRecord(e);\n")
    result = static_gate(HONEST_CUDA, [native])
    assert {"NATIVE_INLINE_ASM", "NATIVE_EVENT"} <= flags(result)
    assert not result.rejected, result.render()


def test_comments_do_not_trigger():
    native = _native_candidate(src('''
        // uses std::thread? no. getenv? no. system("x")? no.
        /* fopen("/etc/passwd") and cudaStreamCreate(&s)
           and #include <thread> */
        int my_system_init(int v) ;
        int filesystem_like = 0; (void)filesystem_like;
        const char* url = "http://example.com/a//b";  // a string with slashes
    '''))
    result = static_gate(HONEST_CUDA, [native])
    assert not result.rejected, result.render()


def test_line_continuation_cannot_split_a_banned_name():
    native = "#include <cstdlib>\nconst char* v = get\\\nenv(\"X\");\nint ok = 0;\n"
    f = finding(static_gate(HONEST_CUDA, [native]), "NATIVE_ENV")
    assert f.severity == "reject" and f.line == 2


def test_word_boundaries():
    native = _native_candidate("int my_system_init(int); int sockets = 0; int forked = 0;\n")
    result = static_gate(HONEST_CUDA, [native])
    assert not result.rejected, result.render()


def test_cuda_code_on_cpu_backend_is_rejected():
    result = static_gate(HONEST_CUDA, backend="cpu")
    f = finding(result, "CUDA_ON_CPU_BACKEND")
    assert f.severity == "reject" and "cpu backend compiles C++ only" in f.message
    assert any(f.origin == "python" and f.rule == "CUDA_ON_CPU_BACKEND" for f in result.findings)
    assert any(f.origin == "native" and f.rule == "CUDA_ON_CPU_BACKEND" for f in result.findings)


def test_cuda_headers_rejected_on_cpu_backend_only():
    cpp = "#include <torch/extension.h>\n#include <omp.h>\ntorch::Tensor f(torch::Tensor x) { return x; }\n"
    assert not static_gate(HONEST_CPU, [cpp], backend="cpu").rejected
    result = static_gate(HONEST_CUDA, [cpp], backend="cuda")
    assert "NATIVE_INCLUDE_UNKNOWN" in rejects(result)  # omp.h is only on the cpu allowlist


def test_build_directory_and_link_flags():
    code = HONEST_CUDA.replace('verbose=False,', 'verbose=False, build_directory="/tmp/shared",\n'
                               '        extra_ldflags=["-lcublas"],')
    result = static_gate(code)
    assert "LOAD_INLINE_BUILD_DIR" in rejects(result)
    assert "LOAD_INLINE_EXTRA_FLAGS" in flags(result)


# -------------------------------------------------------------------------------- policy hygiene

def test_policy_rules_have_messages_and_valid_severities():
    policy = load_static_policy()
    assert policy.rules
    for rule_id, spec in policy.rules.items():
        assert spec.severity in ("reject", "flag"), rule_id
        assert spec.message.strip() and spec.summary.strip(), rule_id
        assert spec.origin in ("python", "native", "both"), rule_id


def _emitted_rule_literals() -> set[str]:
    """Every rule id static_gate.py and the sandbox.gate modules pass as a literal to an emit(...) call."""
    gate_file = Path(gate_module.__file__)
    files = [gate_file, *sorted((gate_file.parent / "gate").glob("*.py"))]
    found: set[str] = set()
    for node in (n for f in files for n in ast.walk(ast.parse(f.read_text()))):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in ("emit", "report") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
                elif isinstance(arg, ast.IfExp):
                    found.update(a.value for a in (arg.body, arg.orelse) if isinstance(a, ast.Constant))
    return found


def test_every_rule_the_code_emits_exists_in_the_policy():
    emitted = _emitted_rule_literals()
    assert len(emitted) > 30  # the introspection found the emit sites
    missing = emitted - set(load_static_policy().rules)
    assert not missing, f"rule ids used in the gate code but not defined in the TOML: {missing}"


def test_every_policy_rule_is_reachable():
    """A rule in the TOML is either emitted by name in the code or driven by data (patterns /
    qualname table), so a renamed rule cannot silently go dead."""
    policy = load_static_policy()
    data_driven = {r for r, spec in policy.rules.items() if spec.patterns} | set(policy.python.qualname_rules)
    dead = set(policy.rules) - _emitted_rule_literals() - data_driven
    assert not dead, f"rules defined in the TOML that nothing can emit: {dead}"


def test_policy_rejects_unknown_rule_in_qualname_table(tmp_path):
    text = default_static_rules_path().read_text()
    bad = tmp_path / "rules.toml"
    bad.write_text(text.replace("[python.qualname_rules]\nPY_STREAM", "[python.qualname_rules]\nPY_STREEM"))
    with pytest.raises(Exception, match="PY_STREEM"):
        load_static_policy(bad)


def test_policy_rejects_bad_regex(tmp_path):
    text = default_static_rules_path().read_text()
    bad = tmp_path / "rules.toml"
    bad.write_text(text.replace("patterns = ['##']", "patterns = ['(unclosed']"))
    with pytest.raises(Exception, match="invalid regex"):
        load_static_policy(bad)


def test_missing_policy_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="static gate policy not found"):
        load_static_policy(tmp_path / "nope.toml")


def test_policy_is_loaded_from_the_repo_sandbox_folder():
    path = default_static_rules_path()
    assert path.name == "static_rules.toml" and path.parent.name == "sandbox"
    assert isinstance(load_static_policy(), StaticPolicy)
    assert load_static_policy() is load_static_policy()


def test_unknown_rule_id_raises():
    with pytest.raises(KeyError, match="NOT_A_RULE"):
        load_static_policy().rule("NOT_A_RULE")


# --------------------------------------------------------------------------------- evasion attempts

@pytest.mark.parametrize("header, body, rule", [
    ("import torch.cuda as tc", "s = tc.Stream()\nreturn x", "PY_STREAM"),
    ("from torch import cuda", "return cuda.Event()", "PY_STREAM"),
    ("", "return torch.cuda.__dict__['Stream']()", "INTROSPECTION"),
    ("", "return __builtins__['eval']('1')", "INTROSPECTION"),
    ("", "object.__setattr__(torch, 'allclose', None)\nreturn x", "MONKEYPATCH"),
    ("import torch.nn.functional as F", "return getattr(F, 'relu')(x)", "DYNAMIC_ATTR_ON_MODULE"),
    ("torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o)", "return x", "MONKEYPATCH"),
    ("lib = torch.library.Library('aten', 'IMPL')", "return x", "BANNED_MODULE"),
    ("", "f = torch.jit.fork(ext.f, x)\nreturn torch.jit.wait(f)", "HOST_DEFERRAL"),
    ("from . import harness", "return x", "BANNED_MODULE"),
    ("import kernelwright.verify", "return x", "BANNED_MODULE"),
    ("from torch.cuda import *", "return x", "STAR_IMPORT"),
    ("import torch._C as C", "return x", "TORCH_PRIVATE_API"),
    ("import operator\nworker = operator.attrgetter('sys.modules')(torch)", "return x", "STRING_REACH"),
    ("from operator import methodcaller as call", "return call('softmax', -1)(x)", "STRING_REACH"),
    ("import functools\nmods = functools.reduce(getattr, ['sys', 'modules'], torch)", "return x", "STRING_REACH"),
    ("table = torch.sys.modules", "return x", "STRING_REACH"),
])
def test_python_evasions_are_rejected(header, body, rule):
    result = static_gate(_with_forward(body, header=header))
    assert rule in rejects(result), result.render()


def test_module_methods_named_like_the_module_table_stay_allowed():
    result = static_gate(_with_forward("return sum(1 for _ in self.modules()) * x + getattr(self, 'scale', 1.0)"))
    assert "STRING_REACH" not in rejects(result), result.render()


def test_try_in_local_submodule_forward_is_rejected():
    extra = src('''
        class Block(nn.Module):
            def forward(self, x):
                try:
                    return ext.f(x)
                except Exception:
                    return x
    ''')
    code = _with_forward("return self.block(x)", init="self.block = Block()", extra=extra)
    f = finding(static_gate(code), "TRY_IN_FORWARD")
    assert f.line == code.splitlines().index("        try:") + 1


def test_exception_swallowing_context_manager_in_forward():
    extra = src('''
        class Guard:
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return True
    ''')
    code = _with_forward("with Guard():\n    return ext.f(x)\nreturn x", extra=extra)
    assert "TRY_IN_FORWARD" in rejects(static_gate(code))


def test_memoized_forward_helper_and_call_counter_are_flagged():
    extra = src('''
        @functools.lru_cache(maxsize=None)
        def _cached(x):
            return ext.f(x)
    ''')
    code = _with_forward("self.calls += 1\nreturn _cached(x)", header="import functools", init="self.calls = 0",
                         extra=extra)
    result = static_gate(code)
    assert not result.rejected, result.render()
    assert {f.line for f in result.findings if f.rule == "STATE_WRITE_IN_FORWARD"} == {
        code.splitlines().index("@functools.lru_cache(maxsize=None)") + 1,
        code.splitlines().index("        self.calls += 1") + 1,
    }


def test_helper_writing_into_its_own_argument_is_not_state():
    extra = src('''
        def _fill(out, x):
            out[...] = 0
            return out
    ''')
    result = static_gate(_with_forward("return _fill(torch.empty_like(x), x)", extra=extra))
    assert result.findings == [], result.render()


def test_extension_function_named_like_a_torch_op_is_not_library_compute():
    header = src('''
        from torch.utils.cpp_extension import load_inline
        ext = load_inline(name="e", cpp_sources="torch::Tensor softmax(torch::Tensor x);", functions=["softmax"])
    ''')
    result = static_gate(_with_forward("return self.k.softmax(x)", header=header, init="self.k = ext"))
    assert result.findings == [], result.render()


@pytest.mark.parametrize("snippet, rule", [
    ('TORCH_LIBRARY_IMPL(aten, CUDA, m) { m.impl("mm", my_mm); }\n', "NATIVE_OP_OVERRIDE"),
    ('auto torch_mod = py::module_::import("torch");\n', "NATIVE_PYTHON_CAPI"),
    ('asm(".incbin \\"/etc/passwd\\"");\n', "NATIVE_FILE_IO"),
    ("__attribute__((constructor)) static void init_hook() {}\n", "NATIVE_DYNLOAD"),
    ("cudaLaunchHostFunc(stream, cb, nullptr);\n", "NATIVE_HOST_THREAD"),
    ("omp_set_num_threads(1);\n", "NATIVE_GLOBAL_FLAG"),
    ("at::DisableRecordFunctionGuard quiet;\n", "NATIVE_PROFILER_EVASION"),
    ("if (at::hasCallbacks()) return x;\n", "NATIVE_PROFILER_EVASION"),
    ("bool watched = torch::profiler::impl::profilerEnabled();\n", "NATIVE_PROFILER_EVASION"),
    ("auto y = at::_ops::_softmax::redispatch(ks, x, 1, false);\n", "NATIVE_PROFILER_EVASION"),
    ("auto y = at::cpu::_softmax(x, 1, false);\n", "NATIVE_PROFILER_EVASION"),
])
def test_native_evasions_are_rejected(snippet, rule):
    result = static_gate(HONEST_CUDA, [snippet])
    assert rule in rejects(result), result.render()


@pytest.mark.parametrize("snippet, expected", [
    ("static int calls = 0;\n", {"NATIVE_STATIC_STATE"}),
    ("static std::unordered_map<int64_t, at::Tensor> cache;\n", {"NATIVE_STATIC_STATE"}),
    ("__device__ int counter = 0;\n", {"NATIVE_STATIC_STATE"}),
    ("static inline __device__ float f(float x) { return x; }\n", set()),
    ("constexpr static int N = 4;\nstatic const float lut[2] = {1.f, 2.f};\n", set()),
    ("__device__ float warp_sum(float v);\n", set()),
    ("int n = 1'000'000; // getenv\n", set()),
    ("v.erase(std::remove(v.begin(), v.end(), 0), v.end()); auto g = std::bind(f, 1);\n", set()),
    ("cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 100000);\n", set()),
    ('TORCH_LIBRARY(myops, m) { m.def("f(Tensor x) -> Tensor"); }\n', set()),
])
def test_native_state_flags_and_non_matches(snippet, expected):
    result = static_gate(HONEST_CUDA, [snippet])
    assert result.rule_ids() == expected, result.render()


def test_banned_module_reached_through_an_allowed_one_is_rejected() -> None:
    source = (
        "import torch\nimport torch.nn as nn\n"
        "worker = torch.sys.modules.get('__main__')\n"
        "runner = torch.utils.cpp_extension.subprocess\n"
        "class ModelNew(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x + torch.signal.windows.hann(3).sum()\n"
    )
    found = {(f.rule, f.line) for f in static_gate(source, backend="cpu").findings if f.severity == "reject"}
    assert ("BANNED_MODULE", 3) in found and ("BANNED_MODULE", 4) in found
    assert not any(line == 7 for rule, line in found)  # torch.signal is torch's own submodule


# ------------------------------------------------------------------------------------ fast math

FAST_MATH_SPELLINGS = [
    '#pragma GCC optimize ("Ofast")\n',
    '#pragma GCC optimize("fast-math")\n',
    '#pragma GCC optimize ("-ffast-math")\n',
    '#pragma GCC optimize ("O3,unsafe-math-optimizations")\n',
    '#pragma GCC optimize ("O" "fast")\n',  # adjacent literals are joined by the compiler
    '#define OPTIONS "finite-math-only"\n#pragma GCC optimize (OPTIONS)\n',
    '#pragma GCC optimize (OPTIONS)\n',  # a macro the gate cannot read
    '_Pragma("GCC optimize(\\"Ofast\\")")\n',
    '__attribute__((optimize("Ofast"))) float f(float x) { return x; }\n',
    '__attribute__((hot, optimize(FAST))) float f(float x) { return x; }\n',
    '[[gnu::optimize("-ffast-math")]] float f(float x) { return x; }\n',
    '#pragma clang fp reassociate(on)\n',
    '#pragma clang fp contract(fast)\n',
    '_Pragma("clang fp reassociate(on)")\n',
    '#pragma float_control(precise, off)\n',
    '#pragma fenv_access (off)\n',
    'float y = __fdividef(a, b);\n',
    'float y = __expf(a) + __logf(b) + __sinf(c);\n',
    'asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));\n',
    'asm("div.full.f32 %0, %1, %2;" : "=f"(y) : "f"(a), "f"(b)); float z = 0; // .ftz\nasm("add.ftz.f32 %0, %1, %1;" : "=f"(z) : "f"(a));\n',
]

FAST_MATH_FLAGS = [
    ["-ffast-math"], ["-Ofast"], ["-O3", "-funsafe-math-optimizations"], ["-fassociative-math"],
    ["-freciprocal-math"], ["-ffinite-math-only"], ["-fno-signed-zeros"], ["-fcx-limited-range"],
    ["-mrecip"], ["-ffp-model=fast"], ["--use_fast_math"], ["-use_fast_math"], ["-ftz=true"], ["--ftz=true"],
    ["-prec-div=false"], ["-prec-sqrt=false"], ["--prec-div", "false"], ["-fmad=true"], ["-Xcompiler", "-ffast-math"],
]


@pytest.mark.parametrize("snippet", FAST_MATH_SPELLINGS)
def test_every_fast_math_spelling_in_the_source_is_rejected(snippet):
    result = static_gate(HONEST_CUDA, [snippet])
    assert "NATIVE_FAST_MATH" in rejects(result), result.render()


@pytest.mark.parametrize("asked", FAST_MATH_FLAGS)
def test_fast_math_flags_asked_of_load_inline_are_rejected(asked):
    """In the Python source's literals, and as recorded from the call (flags built at run time: "-O" + "fast")."""
    literal = HONEST_CUDA.replace("verbose=False,", f"verbose=False, extra_cuda_cflags={asked!r},")
    assert "NATIVE_FAST_MATH" in rejects(static_gate(literal)), asked
    recorded = static_gate(HONEST_CUDA, [], flags=asked)
    assert "NATIVE_FAST_MATH" in rejects(recorded), recorded.render()
    assert "compiler flags asked of load_inline" in finding(recorded, "NATIVE_FAST_MATH").message


def test_fast_math_is_only_flagged_where_the_task_allows_it():
    result = static_gate(HONEST_CUDA, ['#pragma GCC optimize ("Ofast")\nfloat y = __expf(x);\n'],
                         flags=["--use_fast_math"], allow={"allow_fast_math"})
    assert not result.rejected, result.render()
    hits = [f for f in result.findings if f.rule == "NATIVE_FAST_MATH"]
    assert len(hits) == 3 and all(f.severity == "flag" and "ALLOW_FAST_MATH" in f.message for f in hits)


@pytest.mark.parametrize("snippet", [
    '#pragma GCC optimize ("O3")\n',
    '#pragma GCC optimize ("O3,unroll-loops")\n',
    '#pragma GCC optimize ("-O2", "-funroll-loops", "tree-vectorize")\n',
    '__attribute__((optimize(3))) float f(float x) { return x; }\n',
    '#pragma GCC push_options\n#pragma GCC pop_options\n#pragma clang fp contract(on)\n',
    'float y = expf(a) / b + __fdiv_rn(a, b) + __frcp_rn(a) + rsqrtf(b) + __fsqrt_rn(a);\n',
    'struct Fit { float approximate; }; float fast = 1.0f, fast_math_off = 0.0f; // -ffast-math in a comment\n',
])
def test_exact_math_and_plain_optimisation_options_pass(snippet):
    result = static_gate(HONEST_CUDA, [snippet])
    assert "NATIVE_FAST_MATH" not in result.rule_ids(), result.render()
