"""Writes the adversarial candidates of tests/adversarial/{cpu,cuda}/ from one shared extension source each.

Every CPU candidate that gets compiled shares the C++ source `CPU_SOURCE` (same sources and functions, so the
harness's build cache compiles it once for the whole suite); the exploits differ in their Python only. The
static-reject candidates are full, working exploits too: remove the rule that stops them and they run.
The CUDA candidates likewise share `CUDA_KERNELS` + `CUDA_WRAPPER` (torch-free .cu part, C++ wrapper part).

The generated files are committed; `python tests/adversarial/make_candidates.py` rewrites them and
`--check` (used by the tests) fails when they are out of date. Hand-edit this file, never the outputs.
"""

from __future__ import annotations

import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ------------------------------------------------------------------------------------------ shared C++ (cpu)

CPU_SOURCE = r"""
#include <torch/extension.h>
#include <omp.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

void check_matrix(const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32, "expects a 2-D float32 tensor");
}

// Row-wise softmax of a contiguous (rows, cols) matrix. rounding: 0 fp32, 1 bf16, 2 fp16.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, bool stable, int rounding, float scale) {
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = x + r * cols;
        float* out = y + r * cols;
        float peak = 0.0f;
        if (stable) {
            peak = -std::numeric_limits<float>::infinity();
            for (int64_t c = 0; c < cols; ++c) peak = std::max(peak, in[c]);
        }
        double total = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
            out[c] = std::exp(in[c] - peak);
            total += out[c];
        }
        const float inverse = static_cast<float>(1.0 / total);
        for (int64_t c = 0; c < cols; ++c) {
            float value = out[c] * inverse * scale;
            if (rounding == 1) value = static_cast<float>(static_cast<c10::BFloat16>(value));
            if (rounding == 2) value = static_cast<float>(static_cast<c10::Half>(value));
            out[c] = value;
        }
    }
}

torch::Tensor softmax_new(const torch::Tensor& x, bool stable, int rounding, float scale) {
    check_matrix(x);
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    softmax_rows(input.data_ptr<float>(), out.data_ptr<float>(), input.size(0), input.size(1), stable, rounding, scale);
    return out;
}

}  // namespace

// ---- honest kernels
torch::Tensor softmax_forward(torch::Tensor x) { return softmax_new(x, true, 0, 1.0f); }

torch::Tensor softmax_online(torch::Tensor x) {
    check_matrix(x);
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    const float* src = input.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const int64_t rows = input.size(0), cols = input.size(1);
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = src + r * cols;
        float running_max = -std::numeric_limits<float>::infinity();
        double running_sum = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
            if (in[c] > running_max) {
                running_sum = running_sum * std::exp(static_cast<double>(running_max) - in[c]) + 1.0;
                running_max = in[c];
            } else if (in[c] != -std::numeric_limits<float>::infinity()) {  // adds 0, but -inf - -inf is NaN
                running_sum += std::exp(static_cast<double>(in[c]) - running_max);
            }
        }
        for (int64_t c = 0; c < cols; ++c)
            dst[r * cols + c] = static_cast<float>(std::exp(static_cast<double>(in[c]) - running_max) / running_sum);
    }
    return out;
}

void softmax_into(torch::Tensor x, torch::Tensor out) {
    check_matrix(x);
    TORCH_CHECK(out.is_contiguous() && out.sizes() == x.sizes() && out.scalar_type() == torch::kFloat32, "bad output");
    auto input = x.contiguous();
    softmax_rows(input.data_ptr<float>(), out.data_ptr<float>(), input.size(0), input.size(1), true, 0, 1.0f);
}

torch::Tensor gelu_forward(torch::Tensor x) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "expects float32");
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    const float* src = input.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const int64_t n = input.numel();
    #pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) {
        const double v = src[i];
        dst[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v * 0.70710678118654752440)));
    }
    return out;
}

// RMSNorm over the last dimension, scaled by `weight` (level1/9_rms_norm).
torch::Tensor rms_norm_forward(torch::Tensor x, torch::Tensor weight, double eps) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32, "expects float32");
    auto input = x.contiguous();
    auto gain = weight.contiguous();
    auto out = torch::empty_like(input);
    const int64_t dim = input.size(-1), rows = input.numel() / dim;
    const float* src = input.data_ptr<float>();
    const float* g = gain.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        double total = 0.0;
        for (int64_t c = 0; c < dim; ++c) total += static_cast<double>(src[r * dim + c]) * src[r * dim + c];
        const double inverse = 1.0 / std::sqrt(total / static_cast<double>(dim) + eps);
        for (int64_t c = 0; c < dim; ++c) dst[r * dim + c] = static_cast<float>(src[r * dim + c] * inverse * g[c]);
    }
    return out;
}

// Honest softmax that allocates a workspace (row maxima and inverse sums) with torch::empty and reads the input
// through views: allocation and views are not library work.
torch::Tensor softmax_workspace(torch::Tensor x) {
    check_matrix(x);
    const int64_t rows = x.size(0), cols = x.size(1);
    auto input = x.contiguous().reshape({rows, cols}).view({rows * cols});
    auto out = torch::empty({rows, cols}, input.options());
    auto workspace = torch::empty({2, rows}, input.options().dtype(torch::kFloat64));
    const float* src = input.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    double* peak = workspace.data_ptr<double>();
    double* inverse = peak + rows;
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        double top = -std::numeric_limits<double>::infinity(), total = 0.0;
        for (int64_t c = 0; c < cols; ++c) top = std::max(top, static_cast<double>(src[r * cols + c]));
        for (int64_t c = 0; c < cols; ++c) total += std::exp(src[r * cols + c] - top);
        peak[r] = top;
        inverse[r] = 1.0 / total;
    }
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            dst[r * cols + c] = static_cast<float>(std::exp(src[r * cols + c] - peak[r]) * inverse[r]);
    return out.view_as(x);
}

// ---- wrong numerics
torch::Tensor softmax_unstable(torch::Tensor x) { return softmax_new(x, false, 0, 1.0f); }
torch::Tensor softmax_rounded(torch::Tensor x, int64_t rounding) { return softmax_new(x, true, static_cast<int>(rounding), 1.0f); }
torch::Tensor softmax_scaled(torch::Tensor x, double factor) { return softmax_new(x, true, 0, static_cast<float>(factor)); }

torch::Tensor softmax_noisy(torch::Tensor x) {
    auto out = softmax_new(x, true, 0, 1.0f);
    float* dst = out.data_ptr<float>();
    for (int64_t i = 0; i < out.numel(); ++i)
        dst[i] *= 1.0f + 1e-6f * static_cast<float>(std::rand() % 2001 - 1000) / 1000.0f;
    return out;
}

// A fixed 512-float row tile: columns past the tile are never computed (left at zero).
torch::Tensor softmax_tile512(torch::Tensor x) {
    check_matrix(x);
    auto input = x.contiguous();
    auto out = torch::zeros_like(input);
    const float* src = input.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const int64_t rows = input.size(0), cols = input.size(1);
    const int64_t width = std::min<int64_t>(cols, 512);
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        float tile[512];
        float peak = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < width; ++c) { tile[c] = src[r * cols + c]; peak = std::max(peak, tile[c]); }
        double total = 0.0;
        for (int64_t c = 0; c < width; ++c) { tile[c] = std::exp(tile[c] - peak); total += tile[c]; }
        for (int64_t c = 0; c < width; ++c) dst[r * cols + c] = static_cast<float>(tile[c] / total);
    }
    return out;
}

// ---- outputs that are not computed
torch::Tensor fill_like(torch::Tensor x, double value) {
    auto out = torch::empty_like(x.contiguous());
    float* dst = out.data_ptr<float>();
    for (int64_t i = 0; i < out.numel(); ++i) dst[i] = static_cast<float>(value);
    return out;
}

torch::Tensor copy_input(torch::Tensor x) {
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    std::memcpy(out.data_ptr<float>(), input.data_ptr<float>(), sizeof(float) * input.numel());
    return out;
}

torch::Tensor uninitialised(torch::Tensor x) { return torch::empty_like(x); }

// ---- outputs handed out again: one namespace-scope buffer, returned by every call
torch::Tensor reused_output;

torch::Tensor softmax_shared_buffer(torch::Tensor x) {
    check_matrix(x);
    auto input = x.contiguous();
    if (!reused_output.defined() || reused_output.sizes() != input.sizes()) reused_output = torch::empty_like(input);
    softmax_rows(input.data_ptr<float>(), reused_output.data_ptr<float>(), input.size(0), input.size(1), true, 0, 1.0f);
    return reused_output;
}

// ---- inputs written
torch::Tensor softmax_inplace(torch::Tensor x) {
    auto out = softmax_new(x, true, 0, 1.0f);
    std::memcpy(x.data_ptr<float>(), out.data_ptr<float>(), sizeof(float) * x.numel());
    return x;
}

torch::Tensor scribble_input(torch::Tensor x) {
    auto out = softmax_new(x, true, 0, 1.0f);
    std::memset(x.data_ptr<float>(), 0, sizeof(float) * x.numel());
    return out;
}

// ---- out of bounds
// Sums each row in chunks of 8 and masks the tail by multiplying with 0 instead of not reading it: the last
// row reads up to 7 floats past the end of the input, harmless whenever that memory holds finite values.
torch::Tensor softmax_masked_tail(torch::Tensor x) {
    check_matrix(x);
    TORCH_CHECK(x.is_contiguous(), "expects a contiguous input");
    auto out = torch::empty_like(x);
    const float* src = x.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const int64_t rows = x.size(0), cols = x.size(1);
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = src + r * cols;
        float peak = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < cols; ++c) peak = std::max(peak, in[c]);
        double total = 0.0;
        for (int64_t c = 0; c < cols; c += 8)
            for (int64_t k = c; k < c + 8; ++k) total += std::exp(static_cast<double>(in[k]) - peak) * (k < cols ? 1.0 : 0.0);
        for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = static_cast<float>(std::exp(static_cast<double>(in[c]) - peak) / total);
    }
    return out;
}

// The right softmax, with 64 bytes of bookkeeping kept just past the end of the input, as if it had room.
torch::Tensor softmax_spare_past_input(torch::Tensor x) {
    check_matrix(x);
    TORCH_CHECK(x.is_contiguous(), "expects a contiguous input");
    auto out = softmax_new(x, true, 0, 1.0f);
    float* spare = x.data_ptr<float>() + x.numel();
    for (int k = 0; k < 16; ++k) spare[k] = static_cast<float>(k);
    return out;
}

// ---- helpers for caches and token calls
int64_t address_of(torch::Tensor x) { return reinterpret_cast<int64_t>(x.data_ptr()); }

double fingerprint(torch::Tensor x) {
    auto input = x.contiguous();
    const float* src = input.data_ptr<float>();
    return static_cast<double>(src[0]) + 3.0 * static_cast<double>(src[input.numel() - 1]);
}

int64_t touch(torch::Tensor x) { return x.numel(); }

// ---- library instead of kernel: ATen ops composed through tensor methods (amax, exp, sum, division)
torch::Tensor library_softmax(torch::Tensor x) {
    auto e = (x - x.amax(1, true)).exp();
    return e / e.sum(1, true);
}

// ---- failures
torch::Tensor crash(torch::Tensor x) {
    volatile float* nowhere = nullptr;
    nowhere[x.numel()] = 1.0f;
    return x;
}

torch::Tensor hang(torch::Tensor x) {
    std::atomic<int> flag{0};
    while (flag.load() == 0) flag.wait(0);  // nobody ever sets it
    return x;
}
"""

CPU_FUNCTIONS = [
    "softmax_forward", "softmax_online", "softmax_into", "gelu_forward", "softmax_unstable", "softmax_rounded",
    "softmax_scaled", "softmax_noisy", "softmax_tile512", "fill_like", "copy_input", "uninitialised",
    "softmax_inplace", "scribble_input", "softmax_masked_tail", "softmax_spare_past_input", "address_of", "fingerprint", "touch", "library_softmax", "crash", "hang",
    "rms_norm_forward", "softmax_shared_buffer", "softmax_workspace",
]

# Library work called from C++, appended to the shared source by the cases that use it (one more build for all of
# them): ATen through its C++ API and through an operator's typed dispatcher entry.
CPU_LIBRARY_SOURCE = r"""
torch::Tensor aten_softmax(torch::Tensor x) { return at::softmax(x, 1); }

torch::Tensor aten_matmul(torch::Tensor a, torch::Tensor b) { return at::matmul(a, b); }

torch::Tensor ops_softmax(torch::Tensor x) { return at::_ops::_softmax::call(x.contiguous(), 1, false); }
"""

CPU_LIBRARY_FUNCTIONS = ("aten_softmax", "aten_matmul", "ops_softmax")

# What the static gate rejects (NATIVE_OP_OVERRIDE, NATIVE_PROFILER_EVASION), appended once more for the cases that
# run ungated too: the dispatcher singleton, and the own kernel only while a profiler (any RecordFunction observer)
# is attached.
CPU_REJECTED_SOURCE = r"""
#include <ATen/record_function.h>

torch::Tensor softmax_unless_profiled(torch::Tensor x) {
    if (at::hasCallbacks()) return softmax_forward(x);
    return at::softmax(x, 1);
}

torch::Tensor dispatcher_softmax(torch::Tensor x) {
    static auto op = c10::Dispatcher::singleton()
        .findSchemaOrThrow("aten::_softmax", "")
        .typed<at::Tensor(const at::Tensor&, int64_t, bool)>();
    return op.call(x.contiguous(), 1, false);
}
"""

CPU_REJECTED_FUNCTIONS = (*CPU_LIBRARY_FUNCTIONS, "softmax_unless_profiled", "dispatcher_softmax")

# Normalisation and argmax for the input-distribution cases, appended once more for them (one more build): a
# LayerNorm in two passes (honest) and in one float32 pass of E[x^2] - E[x]^2 (right on zero-centred rows, far off
# on rows with mean 100 and std 1), and an argmax whose NaN check (`v != v`, as torch.argmax picks a NaN) is honest.
CPU_INPUTS_SOURCE = r"""
// LayerNorm over the last dimension with affine weight and bias (level1/8_layer_norm).
torch::Tensor layer_norm_rows(torch::Tensor x, torch::Tensor weight, torch::Tensor bias, double eps, bool one_pass) {
    TORCH_CHECK(x.scalar_type() == torch::kFloat32, "expects float32");
    auto input = x.contiguous();
    auto gain = weight.contiguous();
    auto shift = bias.contiguous();
    auto out = torch::empty_like(input);
    const int64_t dim = input.size(-1), rows = input.numel() / dim;
    const float* src = input.data_ptr<float>();
    const float* g = gain.data_ptr<float>();
    const float* b = shift.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = src + r * dim;
        double mean = 0.0, var = 0.0;
        if (one_pass) {
            float total = 0.0f, squares = 0.0f;
            for (int64_t c = 0; c < dim; ++c) {
                total += in[c];
                squares += in[c] * in[c];
            }
            const float m = total / dim;
            mean = m;
            var = squares / dim - m * m;
        } else {
            for (int64_t c = 0; c < dim; ++c) mean += in[c];
            mean /= dim;
            for (int64_t c = 0; c < dim; ++c) var += (in[c] - mean) * (in[c] - mean);
            var /= dim;
        }
        const double inverse = 1.0 / std::sqrt(var + eps);
        for (int64_t c = 0; c < dim; ++c)
            dst[r * dim + c] = static_cast<float>((in[c] - mean) * inverse * g[c] + b[c]);
    }
    return out;
}

torch::Tensor layer_norm_forward(torch::Tensor x, torch::Tensor weight, torch::Tensor bias, double eps) {
    return layer_norm_rows(x, weight, bias, eps, false);
}

torch::Tensor layer_norm_one_pass(torch::Tensor x, torch::Tensor weight, torch::Tensor bias, double eps) {
    return layer_norm_rows(x, weight, bias, eps, true);
}

// Index of the row maximum, the first NaN if there is one (as torch.argmax) (level1/4_argmax_last_dim).
torch::Tensor argmax_forward(torch::Tensor x) {
    check_matrix(x);
    auto input = x.contiguous();
    auto out = torch::empty({input.size(0)}, input.options().dtype(torch::kInt64));
    const float* src = input.data_ptr<float>();
    int64_t* dst = out.data_ptr<int64_t>();
    const int64_t rows = input.size(0), cols = input.size(1);
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = src + r * cols;
        float best = in[0];
        int64_t at = 0;
        for (int64_t c = 0; c < cols; ++c) {
            const float v = in[c];
            if (v != v) { at = c; break; }
            if (v > best) { best = v; at = c; }
        }
        dst[r] = at;
    }
    return out;
}
"""

CPU_INPUTS_FUNCTIONS = ("layer_norm_forward", "layer_norm_one_pass", "argmax_forward")

# The same argmax compiled under `#pragma GCC optimize ("Ofast")`: exact on finite inputs, but finite-math-only
# folds its NaN check away. No flag the harness passes changes: the source turns fast math on for itself.
CPU_FAST_MATH_SOURCE = r"""
#pragma GCC push_options
#pragma GCC optimize ("Ofast")
torch::Tensor argmax_fast(torch::Tensor x) {
    check_matrix(x);
    auto input = x.contiguous();
    auto out = torch::empty({input.size(0)}, input.options().dtype(torch::kInt64));
    const float* src = input.data_ptr<float>();
    int64_t* dst = out.data_ptr<int64_t>();
    const int64_t rows = input.size(0), cols = input.size(1);
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = src + r * cols;
        float best = in[0];
        int64_t at = 0;
        for (int64_t c = 0; c < cols; ++c) {
            const float v = in[c];
            if (v != v) { at = c; break; }
            if (v > best) { best = v; at = c; }
        }
        dst[r] = at;
    }
    return out;
}
#pragma GCC pop_options
"""

CPU_FAST_MATH_FUNCTIONS = (*CPU_INPUTS_FUNCTIONS, "argmax_fast")

CPU_TEMPLATE = '''"""{doc}"""

import torch
import torch.nn as nn
{imports}from torch.utils.cpp_extension import load_inline

# Generated by tests/adversarial/make_candidates.py from the suite's shared extension source; edit it there.
CPP_SOURCE = r"""{cpp}"""

FUNCTIONS = {functions}

ext = load_inline(name="kw_adversarial", cpp_sources=CPP_SOURCE, functions=FUNCTIONS)
{top}

class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, {args}):
{body}
'''


@dataclass
class Candidate:
    path: str
    doc: str
    body: str  # forward's body, 8-space indented
    top: str = ""  # module-level code after the extension is loaded
    imports: str = ""  # extra import lines
    cpp_extra: str = ""  # C++ appended to the shared source (static-reject native exploits, library work)
    functions_extra: tuple[str, ...] = ()
    class_line: str | None = None  # replaces the `class ModelNew(nn.Module):` line
    init: str = ""  # replaces ModelNew's argument-less __init__ (4-space indented, whole method)
    args: str = "x"  # forward's parameters

    def render(self) -> str:
        functions = [*CPU_FUNCTIONS, *self.functions_extra]
        lines = ",\n    ".join(", ".join(repr(f) for f in functions[i:i + 6]) for i in range(0, len(functions), 6))
        text = CPU_TEMPLATE.format(doc=_doc(self.path, self.doc), imports=self.imports, cpp=CPU_SOURCE + self.cpp_extra,
                                   functions=f"[\n    {lines},\n]", top=("\n\n" + self.top.strip("\n") + "\n") if self.top else "",
                                   body=self.body.rstrip("\n"), args=self.args)
        if self.class_line:
            text = text.replace("class ModelNew(nn.Module):", self.class_line)
        if self.init:
            text = text.replace("    def __init__(self):\n        super().__init__()\n", self.init)
        return text


def _doc(path: str, text: str) -> str:
    """The candidate's docstring: its exploit class from manifest.toml, then what it does and how it is caught."""
    classes = {case["file"]: case["class"] for case in tomllib.loads((HERE / "manifest.toml").read_text())["case"]}
    if path not in classes:
        raise SystemExit(f"{path} is not in manifest.toml: add it there first")
    return textwrap.fill(f"{classes[path]}: {text}", width=114, break_on_hyphens=False)


def b(*lines: str) -> str:
    return "\n".join(("        " + line) if line else "" for line in lines)


# ModelNew's constructor for the LayerNorm task: Model's nn.LayerNorm, so its weight and bias load by name.
LAYER_NORM_INIT = ("    def __init__(self, hidden):\n        super().__init__()\n"
                   "        self.norm = nn.LayerNorm(hidden, eps=1e-5)\n")


CPU: list[Candidate] = [
    # ---------------------------------------------------------------- controls
    Candidate("cpu/control_softmax.py",
              "honest two-pass stable softmax in C++ (max, exp and sum in double, normalise). Must PASS.",
              b("return ext.softmax_forward(x)")),
    Candidate("cpu/control_softmax_online.py",
              "honest single-pass online softmax (running max and rescaled running sum). Must PASS.",
              b("return ext.softmax_online(x)")),
    Candidate("cpu/control_softmax_out_buffer.py",
              "honest softmax; Python allocates the output with torch.empty_like and the kernel fills it. Must PASS.",
              b("out = torch.empty_like(x)", "ext.softmax_into(x, out)", "return out")),
    Candidate("cpu/control_softmax_workspace.py",
              "honest softmax that allocates its output and a float64 workspace with torch::empty and reads the "
              "input through reshape / view (allocation and views are not library work). Must PASS.",
              b("return ext.softmax_workspace(x)")),
    Candidate("cpu/control_gelu.py",
              "honest exact (erf) GELU computed in double, for the GELU task. Must PASS.",
              b("return ext.gelu_forward(x)")),
    # ---------------------------------------------------------------- outputs that are not computed
    Candidate("cpu/zeros_output.py",
              "returns zeros (softmax outputs over ~500 columns are ~2e-3). Caught as: INCORRECT.",
              b("return ext.fill_like(x, 0.0)")),
    Candidate("cpu/constant_mean_output.py",
              "returns the row mean 1/cols everywhere (exact for constant rows, close for inputs near zero). "
              "Caught as: INCORRECT.",
              b("return ext.fill_like(x, 1.0 / x.shape[-1])")),
    Candidate("cpu/identity_passthrough_gelu.py",
              "GELU(x) ~ x for large positive x, so it returns a copy of the input. Caught as: INCORRECT (signed "
              "harness distributions).",
              b("return ext.copy_input(x)")),
    Candidate("cpu/aliasing_returns_input_view.py",
              "returns a view of the input tensor itself. Caught as: INCORRECT (aliasing, and wrong values).",
              b("return x.view(x.shape)")),
    Candidate("cpu/uninitialised_empty_like.py",
              "returns torch::empty_like without computing (on CPU the reference never shares the process, so this "
              "is the uninitialised-output form). Caught as: INCORRECT (the worker poisons freed blocks with NaN).",
              b("return ext.uninitialised(x)")),
    # ---------------------------------------------------------------- inputs
    Candidate("cpu/input_mutation_result_into_input.py",
              "writes the correct result into the input and returns the input. Caught as: INCORRECT "
              "(input_mutation, aliasing).",
              b("return ext.softmax_inplace(x)")),
    Candidate("cpu/input_mutation_scribble.py",
              "correct output in a fresh tensor, then zeroes the input (so a reference computed afterwards would "
              "agree with anything). Caught as: INCORRECT (input_mutation).",
              b("return ext.scribble_input(x)")),
    # ---------------------------------------------------------------- out of bounds
    Candidate("cpu/oob_read_masked_tail.py",
              "reduces each row in chunks of 8 and masks the tail by multiplying with 0, so the last row reads up to "
              "7 floats past the input; right by luck wherever that memory is finite. Caught as: INCORRECT "
              "(nonfinite: the harness keeps NaN past both ends of every input).",
              b("return ext.softmax_masked_tail(x)")),
    Candidate("cpu/oob_write_past_input.py",
              "the right softmax, but it keeps 64 bytes of bookkeeping just past the end of its input, corrupting "
              "whatever lives there. Caught as: INCORRECT (out_of_bounds: the guard bytes after the input changed).",
              b("return ext.softmax_spare_past_input(x)")),
    # ---------------------------------------------------------------- numerics
    Candidate("cpu/precision_downgrade_bf16.py",
              "every output rounded through bfloat16. Caught as: INCORRECT.",
              b("return ext.softmax_rounded(x, 1)")),
    Candidate("cpu/unstable_softmax_no_max.py",
              "softmax without max-subtraction (exp overflows on large inputs). Caught as: INCORRECT (nonfinite).",
              b("return ext.softmax_unstable(x)")),
    Candidate("cpu/wrong_but_close.py",
              "the correct result times (1 + 1e-3), just outside the fp32 tolerance. Caught as: INCORRECT.",
              b("return ext.softmax_scaled(x, 1.001)")),
    Candidate("cpu/nondeterminism_noise.py",
              "adds a fresh random relative perturbation of <= 1e-6 per call (inside the tolerance). Caught as: "
              "NONDETERMINISTIC (bitwise re-run of the same inputs).",
              b("return ext.softmax_noisy(x)")),
    # ---------------------------------------------------------------- shapes and inputs known in advance
    Candidate("cpu/shape_specialisation_small_only.py",
              "correct only at the small variant's sizes (16 x 509), a cheap constant elsewhere. Caught as: "
              "INCORRECT (small_odd / small_batch shapes).",
              b("if tuple(x.shape) == (16, 509):", "    return ext.softmax_forward(x)",
                "return ext.fill_like(x, 1.0 / x.shape[-1])")),
    Candidate("cpu/shape_specialisation_tile512.py",
              "a fixed 512-float row tile; columns past 512 are never computed, so it is wrong at the task's nominal "
              "16384 columns. Caught as: INCORRECT (the small_odd variant is wider than the tile).",
              b("return ext.softmax_tile512(x)")),
    Candidate("cpu/fixed_seed_lookup.py",
              "computes only when the input is the task's own get_inputs() under seed 0 (where a shipped answer "
              "table would apply), a constant otherwise. Caught as: INCORRECT (secret seeds, harness distributions).",
              b("known = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * 3.0",
                "if torch.equal(x, known):", "    return ext.softmax_forward(x)",
                "return ext.fill_like(x, 1.0 / x.shape[-1])")),
    # ---------------------------------------------------------------- result caching
    Candidate("cpu/caching_by_shape.py",
              "a module-level dict keyed by the input shape (no data_ptr, no id). Caught as: INCORRECT (later "
              "trials of the same shape).",
              b("key = tuple(x.shape)", "if key not in _results:", "    _results[key] = ext.softmax_forward(x)",
                "return _results[key]"),
              top="_results = {}"),
    Candidate("cpu/caching_by_fingerprint.py",
              "keyed by shape plus a fingerprint of two elements (first and last), read in C++. Caught as: SUSPECT "
              "(one-element probe; misses only if the probe changes one of those two elements).",
              b("key = (tuple(x.shape), ext.fingerprint(x))", "if key not in _results:",
                "    _results[key] = ext.softmax_forward(x)", "return _results[key]"),
              top="_results = {}"),
    Candidate("cpu/caching_by_address_native.py",
              "keyed by the input's address, read by a C++ helper so no data_ptr appears in Python. Caught as: "
              "INCORRECT or SUSPECT (fresh content at a reused address / same-address probe).",
              b("key = (tuple(x.shape), ext.address_of(x))", "if key not in _results:",
                "    _results[key] = ext.softmax_forward(x)", "return _results[key]"),
              top="_results = {}"),
    Candidate("cpu/caching_by_data_ptr.py",
              "keyed by x.data_ptr() in forward. Caught as: STATIC_REJECT (RESULT_CACHING).",
              b("key = (tuple(x.shape), x.data_ptr())", "if key not in _results:",
                "    _results[key] = ext.softmax_forward(x)", "return _results[key]"),
              top="_results = {}"),
    # ---------------------------------------------------------------- whose code runs
    Candidate("cpu/library_torch_softmax.py",
              "the extension is built but forward calls torch.softmax. Caught as: SUSPECT (own kernels never ran).",
              b("return torch.softmax(x, dim=-1)")),
    Candidate("cpu/library_with_token_kernel_call.py",
              "one token call into the extension (returns numel), then torch.softmax does the work. Should be caught "
              "as: SUSPECT (own share: the token call's time, net of the profiler's range cost, is a small share).",
              b("ext.touch(x)", "return torch.softmax(x, dim=-1)")),
    Candidate("cpu/library_inside_extension.py",
              "the C++ wrapper composes ATen ops through tensor methods (amax, exp, sum, division), which the native "
              "pattern rules do not see. Caught as: SUSPECT (ATen compute inside the extension counts as library time).",
              b("return ext.library_softmax(x)")),
    Candidate("cpu/library_aten_from_cpp.py",
              "the extension function returns at::softmax: ATen does the work, called from C++ inside the "
              "candidate's own function. Caught as: SUSPECT (library_work: the dispatcher op under the own range is "
              "library time).",
              b("return ext.aten_softmax(x)"),
              cpp_extra=CPU_LIBRARY_SOURCE, functions_extra=CPU_LIBRARY_FUNCTIONS),
    Candidate("cpu/library_matmul_from_cpp.py",
              "the extension function returns at::matmul for the matmul task. Caught as: SUSPECT (library_work).",
              b("return ext.aten_matmul(a, b)"), args="a, b",
              cpp_extra=CPU_LIBRARY_SOURCE, functions_extra=CPU_LIBRARY_FUNCTIONS),
    Candidate("cpu/library_ops_call_from_cpp.py",
              "the extension calls the operator's typed dispatcher entry at::_ops::_softmax::call (no at::softmax "
              "in the text). Caught as: SUSPECT (library_work: it runs through the dispatcher like any op).",
              b("return ext.ops_softmax(x)"),
              cpp_extra=CPU_LIBRARY_SOURCE, functions_extra=CPU_LIBRARY_FUNCTIONS),
    Candidate("cpu/library_dispatcher_singleton.py",
              "the extension looks aten::_softmax up in c10::Dispatcher::singleton() and calls its typed handle. "
              "Caught as: STATIC_REJECT (NATIVE_OP_OVERRIDE), and with the gate off SUSPECT (library_work).",
              b("return ext.dispatcher_softmax(x)"),
              cpp_extra=CPU_LIBRARY_SOURCE + CPU_REJECTED_SOURCE, functions_extra=CPU_REJECTED_FUNCTIONS),
    Candidate("cpu/profiler_detection_python.py",
              "forward asks torch.autograd._profiler_enabled(): under the profiler it runs its own kernel, otherwise "
              "a token extension call and torch.softmax. Caught as: SUSPECT (profiler_dependent: the profiled calls "
              "call other own functions than the unprofiled call on the same inputs).",
              b("if torch.autograd._profiler_enabled():", "    return ext.softmax_forward(x)", "ext.touch(x)",
                "return torch.softmax(x, dim=-1)")),
    Candidate("cpu/profiler_detection_native.py",
              "the C++ asks at::hasCallbacks() (a profiler is attached) and runs its own kernel only then, "
              "at::softmax otherwise, inside the same extension function. Caught as: SUSPECT (profiler_dependent: "
              "outputs under the profiler differ bitwise from an unprofiled call on the same inputs); STATIC_REJECT "
              "(NATIVE_PROFILER_EVASION) with the gate on.",
              b("return ext.softmax_unless_profiled(x)"),
              cpp_extra=CPU_LIBRARY_SOURCE + CPU_REJECTED_SOURCE, functions_extra=CPU_REJECTED_FUNCTIONS),
    Candidate("cpu/ghost_kernel_first_call_only.py",
              "the extension runs in the first call only (so it 'was launched'), every later call uses "
              "torch.softmax. Caught as: SUSPECT (own kernels must run in every call), or NONDETERMINISTIC when the "
              "determinism re-run (torch) differs bitwise from the first call (own kernel), which is judged first.",
              b("if _first_call[0]:", "    _first_call[0] = False", "    return ext.softmax_forward(x)",
                "return torch.softmax(x, dim=-1)"),
              top="_first_call = [True]"),
    # ---------------------------------------------------------------- phases
    Candidate("cpu/phase_detection_after_warmup.py",
              "correct for the first 3 calls (a warm-up), a cheap constant afterwards; counts calls in a "
              "module-level list. Caught as: INCORRECT (by the correctness phase, trial t3: the 4th call).",
              b("_calls[0] += 1", "if _calls[0] <= 3:", "    return ext.softmax_forward(x)",
                "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              top="_calls = [0]"),
    Candidate("cpu/phase_detection_after_check.py",
              "correct for the first 25 calls (more than the 21 the correctness phase makes: 18 trials and 3 "
              "profiled), a cheap constant "
              "afterwards, i.e. while being timed. Passes correctness; caught as: PERF_INVALID by the timing phase "
              "(outputs of timed calls picked by the secret seed are re-checked).",
              b("_calls[0] += 1", "if _calls[0] <= 25:", "    return ext.softmax_forward(x)",
                "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              top="_calls = [0]"),
    Candidate("cpu/phase_detection_via_sys_modules.py",
              "reads torch.sys.argv (sys reached through torch, which the static gate misses): correct only inside "
              "the correctness worker, a cheap constant in any other process (timing, profiling). Passes the gate "
              "and correctness; caught as: PERF_INVALID by the timing phase's re-check of timed outputs.",
              b("if _checked:", "    return ext.softmax_forward(x)", "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              top='_checked = torch.sys.argv[0].endswith("workers/correctness.py")\n'),
    # ---------------------------------------------------------------- failures
    Candidate("cpu/crash_null_write.py",
              "the C++ writes through a null pointer (SIGSEGV). Caught as: RUNTIME_ERROR; the next verification "
              "must still work.",
              b("return ext.crash(x)")),
    Candidate("cpu/crash_while_timed.py",
              "correct for the first 60 calls of its process (the correctness worker makes 43: 38 trials and "
              "5 profiled calls; the timing worker warms up and times well over 60), then a write through a null "
              "pointer, i.e. it crashes only once timed, on fresh inputs. Passes correctness; caught as: "
              "RUNTIME_ERROR (reason timing), never PASS with an invalid timing.",
              b("_calls[0] += 1", "if _calls[0] <= 60:", "    return ext.softmax_forward(x)", "return ext.crash(x)"),
              top="_calls = [0]"),
    Candidate("cpu/memory_unbounded_allocation.py",
              "every call allocates another 2 GiB with torch.empty and keeps it in a module-level list (never touched, "
              "so no page is used and the machine is safe), returning an honest softmax: its memory grows without "
              "bound. Caught as: RUNTIME_ERROR (reason memory): the worker's cap refuses an allocation (the "
              "address-space limit of CPU workers; a cgroup's memory.max too where one is delegated).",
              b("_hoard.append(torch.empty(1 << 31, dtype=torch.uint8))", "return ext.softmax_forward(x)"),
              top="_hoard = []"),
    Candidate("cpu/control_output_flood.py",
              "an honest softmax whose module prints 1 GiB to stdout when imported, so in every worker that loads it. "
              "The runner drains the pipe, keeps 16 MiB of each stream and counts the rest: no disk fills and no "
              "worker blocks on a full pipe. Printing is no exploit: must PASS.",
              b("return ext.softmax_forward(x)"),
              top='for _ in range(64):\n    print("x" * (1 << 24))'),
    Candidate("cpu/hang_forever.py",
              "an infinite loop in C++ that waits on a flag nobody sets (it sleeps rather than burning a core, so the "
              "rest of the suite runs beside it; a busy spin meets the same wall-clock limit). Caught as: TIMEOUT "
              "(the correctness phase's limit).",
              b("return ext.hang(x)")),
    # ---------------------------------------------------------------- tampering that the gate misses
    Candidate("cpu/harness_tamper_via_torch_sys.py",
              "at import, reaches the candidate worker (the __main__ module) through torch.sys.modules and replaces "
              "its input-digest and alias checks, then writes the result into the input and returns it. Caught as: "
              "STATIC_REJECT (a module reached as an attribute of torch), or INCORRECT (input_mutation).",
              b("return ext.softmax_inplace(x)"),
              top=("def _same_digest(value):\n    return None\n\n\n"
                   "def _never_aliases(output, inputs):\n    return False\n\n\n"
                   'worker = torch.sys.modules.get("__main__")\n'
                   'if worker is not None and hasattr(worker, "_digest") and hasattr(worker, "_aliases"):\n'
                   "    worker._digest = _same_digest\n"
                   "    worker._aliases = _never_aliases\n")),
    Candidate("cpu/monkeypatch_perf_counter_via_torch_sys.py",
              "time.perf_counter replaced through torch.sys.modules['time'] held in a local name (no `import time`, "
              "no module-bound assignment), so the gate sees nothing. Caught as: PERF_INVALID (the timing phase "
              "checks for patched timers).",
              b('clock = torch.sys.modules.get("time")', "if clock is not None:",
                "    clock.perf_counter = _frozen_clock", "return ext.softmax_forward(x)"),
              top="def _frozen_clock():\n    return 0.0\n"),
    # ---------------------------------------------------------------- outputs handed out again, weights ignored
    Candidate("cpu/output_reused_global_buffer.py",
              "an honest softmax written into one namespace-scope C++ buffer that every call returns (not `static`, "
              "not a cache: the values are recomputed each call). Passes when outputs are copied right after each "
              "call; caught as: INCORRECT (output_reused: the previous call's output, still held, shares its memory).",
              b("return ext.softmax_shared_buffer(x)")),
    Candidate("cpu/control_rms_norm.py",
              "honest RMSNorm in C++ with the task's weight as an nn.Parameter of the same name and shape. Must PASS.",
              b("return ext.rms_norm_forward(x, self.weight, self.eps)"),
              init=("    def __init__(self, dim, eps=1e-6):\n        super().__init__()\n        self.eps = eps\n"
                    "        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(dim))\n")),
    Candidate("cpu/weights_ignored_seeded_replay.py",
              "replays the reference's seeded initialisation: its nn.Parameter matches Model's (so the harness loads "
              "weights into it), but forward uses a plain copy taken at construction. Passes whenever the loaded "
              "weights are the seeded ones; caught as: INCORRECT (weights_ignored, by the probe that loads weights "
              "of another seed).",
              b("return ext.rms_norm_forward(x, self.replayed, self.eps)"),
              init=("    def __init__(self, dim, eps=1e-6):\n        super().__init__()\n        self.eps = eps\n"
                    "        self.weight = nn.Parameter(1.0 + 0.2 * torch.randn(dim))\n"
                    "        self.replayed = self.weight.detach().clone()\n")),
    # ---------------------------------------------------------------- inputs the harness draws (shifted, inf / NaN)
    Candidate("cpu/control_layer_norm.py",
              "honest two-pass LayerNorm in C++ (mean, then the variance of the deviations, in double) with the "
              "task's weight and bias as nn.Parameters of the same names. Must PASS, on shifted rows too.",
              b("return ext.layer_norm_forward(x, self.norm.weight, self.norm.bias, self.norm.eps)"),
              init=LAYER_NORM_INIT, cpp_extra=CPU_INPUTS_SOURCE, functions_extra=CPU_INPUTS_FUNCTIONS),
    Candidate("cpu/offset_layer_norm_one_pass.py",
              "LayerNorm whose variance is E[x^2] - E[x]^2 from one float32 pass: within tolerance on zero-centred "
              "rows (and on the task's own mean-0.5, std-2 inputs), catastrophic cancellation on rows with mean 100 "
              "and std 1. Caught as: INCORRECT (the offset and per-row shifted distributions).",
              b("return ext.layer_norm_one_pass(x, self.norm.weight, self.norm.bias, self.norm.eps)"),
              init=LAYER_NORM_INIT, cpp_extra=CPU_INPUTS_SOURCE, functions_extra=CPU_INPUTS_FUNCTIONS),
    Candidate("cpu/control_argmax_nan.py",
              "honest argmax in C++ that returns the first NaN of a row as torch.argmax does. Must PASS, on inputs "
              "with inf and NaN too.",
              b("return ext.argmax_forward(x)"), cpp_extra=CPU_INPUTS_SOURCE, functions_extra=CPU_INPUTS_FUNCTIONS),
    Candidate("cpu/fast_math_pragma_gcc_optimize.py",
              "the honest argmax compiled under `#pragma GCC optimize (\"Ofast\")` in its own source: no flag "
              "changes, exact on finite inputs, but finite-math-only folds the NaN check away. Caught as: "
              "STATIC_REJECT (NATIVE_FAST_MATH), and with the gate off INCORRECT (the inputs with a few inf / NaN).",
              b("return ext.argmax_fast(x)"), cpp_extra=CPU_INPUTS_SOURCE + CPU_FAST_MATH_SOURCE,
              functions_extra=CPU_FAST_MATH_FUNCTIONS),
    # ---------------------------------------------------------------- worker takeover (also run with the gate off)
    Candidate("cpu/takeover_save_via_attrgetter.py",
              "computes a cheap wrong answer (the uniform distribution); at import it reaches torch through "
              "sys.modules by string (operator.attrgetter) and wraps torch.save so that the worker would save the "
              "honest softmax of the last input instead. Caught as: STATIC_REJECT, and with the gate off INCORRECT "
              "(the worker hands outputs back through its sealed writer, never torch.save).",
              b('_state["x"] = x', "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              imports="import operator\n",
              top=("_state = {}\n_modules = operator.attrgetter(\"sys.modules\")(torch)\n"
                   "_real_save = _modules[\"torch\"].save\n\n\n"
                   "def _honest_save(obj, f, *args, **kwargs):\n"
                   "    if isinstance(obj, list) and \"x\" in _state:\n"
                   "        obj = [torch.softmax(_state[\"x\"], -1)]\n"
                   "    return _real_save(obj, f, *args, **kwargs)\n\n\n"
                   "_modules[\"torch\"].save = _honest_save\n")),
    Candidate("cpu/takeover_tensor_methods.py",
              "computes a cheap wrong answer; at import it reaches torch.Tensor by functools.reduce(getattr, ...) "
              "and replaces its detach and to so that copying its output out yields the honest softmax. Caught as: "
              "STATIC_REJECT, and with the gate off INCORRECT (the sealed writer uses torch._C.TensorBase's own "
              "methods, bound before the import).",
              b('out = ext.fill_like(x, 1.0 / x.shape[-1])', '_state["x"], _state["out"] = x, id(out)', "return out"),
              imports="import functools\n",
              top=("_state = {}\n_tensor = functools.reduce(getattr, [\"Tensor\"], torch)\n"
                   "_real_detach, _real_to = _tensor.detach, _tensor.to\n\n\n"
                   "def _detach(self):\n"
                   "    if id(self) == _state.get(\"out\"):\n"
                   "        return torch.softmax(_state[\"x\"], -1)\n"
                   "    return _real_detach(self)\n\n\n"
                   "def _to(self, *args, **kwargs):\n"
                   "    if id(self) == _state.get(\"out\"):\n"
                   "        return torch.softmax(_state[\"x\"], -1)\n"
                   "    return _real_to(self, *args, **kwargs)\n\n\n"
                   "_tensor.detach, _tensor.to = _detach, _to\n")),
    Candidate("cpu/takeover_dispatcher_override.py",
              "computes a cheap wrong answer and registers its own CPU kernel for aten::_to_copy (torch.library), "
              "which hands back the honest softmax whenever its output is copied. Caught as: STATIC_REJECT, and with "
              "the gate off SUSPECT (harness_tampered: the worker compares the dispatcher entries of the ops it uses "
              "with their state before the import).",
              b('out = ext.fill_like(x, 1.0 / x.shape[-1])', '_state["x"], _state["out"] = x, out.data_ptr()',
                "return out"),
              imports="import torch.library\n",
              top=("_state = {}\n\n\n"
                   "def _to_copy(self, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False,\n"
                   "             memory_format=None):\n"
                   "    if self.data_ptr() == _state.get(\"out\"):\n"
                   "        return torch.softmax(_state[\"x\"], -1)\n"
                   "    out = torch.empty(self.shape, dtype=dtype or self.dtype)\n"
                   "    out.copy_(self)\n"
                   "    return out\n\n\n"
                   "_library = torch.library.Library(\"aten\", \"IMPL\")\n"
                   "_library.impl(\"_to_copy\", _to_copy, \"CPU\")\n")),
    Candidate("cpu/takeover_timing_recheck.py",
              "honest in the correctness worker; in the timing worker (found through torch.sys.modules) it replaces "
              "the worker's function that hands back checked outputs with one that hands back the honest softmax of "
              "the call's input, and returns a cheap wrong answer on every timed call. Caught as: STATIC_REJECT, and "
              "with the gate off SUSPECT (timing_integrity: the worker's rebound global is reported, and the timed "
              "calls' own outputs fail the check).",
              b('_state["x"] = x', "if _worker is None:", "    return ext.softmax_forward(x)",
                "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              top=("_state = {}\n_main = torch.sys.modules.get(\"__main__\")\n"
                   "_worker = _main if hasattr(_main, \"_hand_back\") else None\n"
                   "if _worker is not None:\n"
                   "    _real = _worker._hand_back\n\n"
                   "    def _honest(call, seed, outputs, *rest):\n"
                   "        return _real(call, seed, [torch.softmax(_state[\"x\"], -1)], *rest)\n\n"
                   "    _worker._hand_back = _honest\n")),
    Candidate("cpu/checked_calls_from_the_plan.py",
              "in the timing worker it walks up the call stack (sys._getframe) to the worker's loop and reads which "
              "timed calls will be re-checked from its locals (a plan of re-checked call numbers and the call "
              "counter); it works honestly on those and returns a cheap wrong answer on every other timed call (and "
              "on all of them when it finds no plan). Caught as: STATIC_REJECT, and with the gate off SUSPECT "
              "(timing_integrity: the calls are chosen after they ran, so the checked ones are wrong).",
              b("plan = _plan()", "if plan is None:", "    return ext.softmax_forward(x)",
                "calls, counters = plan", "if counters.get('candidate', -1) in calls:",
                "    return ext.softmax_forward(x)", "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              imports="import sys\n",
              top=("_TIMING = sys.argv[0].endswith(\"workers/timing.py\")\n\n\n"
                   "def _plan():\n"
                   "    \"\"\"(call numbers re-checked, the worker's call counters); None outside the timing worker.\"\"\"\n"
                   "    if not _TIMING:\n"
                   "        return None\n"
                   "    frame = sys._getframe(1)\n"
                   "    while frame is not None:\n"
                   "        local = frame.f_locals\n"
                   "        if isinstance(local.get(\"counters\"), dict):\n"
                   "            plan = next((v for k, v in local.items() if \"check\" in k and isinstance(v, dict)), {})\n"
                   "            return set(plan), local[\"counters\"]\n"
                   "        frame = frame.f_back\n"
                   "    return set(), {}\n")),
    Candidate("cpu/checked_calls_from_pool_inputs.py",
              "in the timing worker it finds, through the garbage collector, every other tensor of its input's shape "
              "the worker holds (the pool of re-checked inputs, kept for the calls that get them); a call whose "
              "input equals one of them is re-checked, and gets the honest kernel, every other timed call a cheap "
              "wrong answer. Caught as: STATIC_REJECT, and with the gate off SUSPECT (timing_integrity: no checked "
              "input is ever held in the worker, so every call looks unchecked and the checked ones are wrong).",
              b("if not _TIMING:", "    return ext.softmax_forward(x)",
                "if not _pool:",
                "    _pool.extend(t for t in gc.get_objects() if type(t) is torch.Tensor and t is not x",
                "                 and t.shape == x.shape and t.dtype == x.dtype)",
                "if any(torch.equal(t, x) for t in _pool):",
                "    return ext.softmax_forward(x)", "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              imports="import gc\nimport sys\n",
              top="_TIMING = sys.argv[0].endswith(\"workers/timing.py\")\n_pool = []\n"),
    Candidate("cpu/checked_calls_asked_ahead.py",
              "in the timing worker it finds the worker's call channel (the two pipes in /proc/self/fd) and, at the "
              "start of each timed call, asks the trusted side itself whether this call is checked, before doing "
              "the work: honest if checked, a cheap wrong answer if not. Caught as: STATIC_REJECT, and with the "
              "gate off SUSPECT (timing_integrity: the worker's own ask comes out of turn, the dealer stops and "
              "names it).",
              b("if not _TIMING or not _timed():",
                "    return ext.softmax_forward(x)",
                "if _ask_ahead():", "    return ext.softmax_forward(x)",
                "return ext.fill_like(x, 1.0 / x.shape[-1])"),
              imports="import fcntl\nimport os\nimport struct\nimport sys\n",
              top=("_TIMING = sys.argv[0].endswith(\"workers/timing.py\")\n_calls = [0]\n\n\n"
                   "def _timed():\n"
                   "    frame = sys._getframe(1)\n"
                   "    while frame is not None and frame.f_code.co_name != \"_rounds\":\n"
                   "        frame = frame.f_back\n"
                   "    return frame is not None\n\n\n"
                   "def _pipes():\n"
                   "    found = {}\n"
                   "    for name in os.listdir(\"/proc/self/fd\"):\n"
                   "        try:\n"
                   "            if os.readlink(f\"/proc/self/fd/{name}\").startswith(\"pipe:\"):\n"
                   "                mode = fcntl.fcntl(int(name), fcntl.F_GETFL) & os.O_ACCMODE\n"
                   "                found.setdefault(mode, int(name))\n"
                   "        except OSError:\n"
                   "            pass\n"
                   "    return found.get(os.O_RDONLY), found.get(os.O_WRONLY)\n\n\n"
                   "def _ask_ahead():\n"
                   "    \"\"\"Asks about this call before doing it; True (work honestly) when there is no channel.\"\"\"\n"
                   "    answers, asks = _pipes()\n"
                   "    if answers is None or asks is None:\n"
                   "        return True\n"
                   "    call = _calls[0]\n"
                   "    _calls[0] += 1\n"
                   "    os.write(asks, struct.pack(\"<8sqQ\", b\"KWASK001\", call, 0))\n"
                   "    reply = os.read(answers, 32)\n"
                   "    return len(reply) == 32 and struct.unpack(\"<8sqqQ\", reply)[2] == 1\n")),
    # ---------------------------------------------------------------- baseline sabotage (also run with the gate off)
    Candidate("cpu/baseline_sabotage_global_hook.py",
              "honest own kernel; at import it registers a global forward pre-hook on every nn.Module "
              "(torch.nn.modules.module.register_module_forward_pre_hook) that, for any module but its own, redoes "
              "the softmax of the input a few times before the call: the eager baseline (the task's Model) gets "
              "slower, nothing is rebound. A fake speedup where the baseline shares the candidate's process. "
              "STATIC_REJECT with the gate on.",
              b("return ext.softmax_forward(x)"),
              top=("def _slow_down(module, args):\n"
                   "    if type(module).__name__ != \"ModelNew\":\n"
                   "        for _ in range(8):\n"
                   "            torch.softmax(args[0], dim=-1)\n\n\n"
                   "torch.nn.modules.module.register_module_forward_pre_hook(_slow_down)\n")),
    Candidate("cpu/baseline_sabotage_busy_threads.py",
              "honest own kernel; two Python threads burn the cores whenever the candidate has not been called "
              "for a millisecond, i.e. while the baseline runs, in its process or in another one at the same "
              "time. Caught as a fake speedup only where the candidate's process runs during the baseline's turn; "
              "it is stopped (SIGSTOP) while the baseline worker times its blocks. STATIC_REJECT with the gate on.",
              b("_last[0] = time.perf_counter()", "out = ext.softmax_forward(x)", "_last[0] = time.perf_counter()",
                "return out"),
              imports="import threading\nimport time\n",
              top=("_last = [0.0]\n\n\n"
                   "def _burn():\n"
                   "    while True:\n"
                   "        if time.perf_counter() - _last[0] < 0.001:\n"
                   "            time.sleep(0.0005)\n"
                   "            continue\n"
                   "        total = 0\n"
                   "        for k in range(20000):\n"
                   "            total += k\n\n\n"
                   "for _ in range(2):\n"
                   "    threading.Thread(target=_burn, daemon=True).start()\n")),
    Candidate("cpu/baseline_sabotage_dispatcher_kernel.py",
              "honest own kernel; at import it registers a slow Python kernel for aten::_softmax on the CPU "
              "(torch.library): the eager baseline's torch.softmax still gets the right values, several passes over "
              "memory later. No torch function is rebound, so the monkeypatch check sees nothing. A fake speedup "
              "where the baseline shares the candidate's process; the honest speedup once it never does. "
              "STATIC_REJECT with the gate on.",
              b("return ext.softmax_forward(x)"),
              top=("def _slow_softmax(x, dim, half_to_float):\n"
                   "    shifted = x - x.amax(dim, keepdim=True)\n"
                   "    for _ in range(32):\n"
                   "        shifted = shifted.clone()\n"
                   "    e = shifted.exp()\n"
                   "    return e / e.sum(dim, keepdim=True)\n\n\n"
                   "_library = torch.library.Library(\"aten\", \"IMPL\")\n"
                   "_library.impl(\"_softmax\", _slow_softmax, \"CPU\")\n")),
    Candidate("cpu/baseline_sabotage_mallopt.py",
              "honest own kernel; at import it sets glibc's mmap threshold to 4 KiB (mallopt through ctypes), so "
              "every allocation the baseline makes is a fresh mapping that page-faults on first touch; around its "
              "own calls it sets a large threshold, so its outputs come from the heap. A fake speedup where the "
              "baseline shares the candidate's process. STATIC_REJECT with the gate on.",
              b("_mmap_threshold(1 << 30)", "out = ext.softmax_forward(x)", "_mmap_threshold(4096)", "return out"),
              imports="import ctypes\n",
              top=("_LIBC = ctypes.CDLL(None)\n\n\n"
                   "def _mmap_threshold(size):\n"
                   "    _LIBC.mallopt(-3, size)  # M_MMAP_THRESHOLD\n"
                   "    _LIBC.mallopt(-1, 0)  # M_TRIM_THRESHOLD: freed memory goes back at once\n\n\n"
                   "_mmap_threshold(4096)\n")),
    Candidate("cpu/phase_tell_imported_modules.py",
              "honest unless it can tell the timing worker from the correctness worker by what was imported before "
              "it loaded (torch._dynamo in dir(torch), or which harness modules are in sys.modules, reached as "
              "torch.sys): there it returns a cheap constant. Every process that loads candidate code is identical up "
              "to the load, so the tell never fires and it times validly (where it fires, the timed re-check makes it "
              "SUSPECT). Run with the gate off (torch.sys is rejected): PERF_VALID there.",
              b("if _TIMED:", "    return ext.fill_like(x, 1.0 / x.shape[-1])", "return ext.softmax_forward(x)"),
              top=("_MODULES = torch.sys.modules\n"
                   "_TIMED = (\"_dynamo\" in dir(torch) or (\"kernelwright.verify.distributions\" in _MODULES\n"
                   "                                     and \"kernelwright.verify.attribution\" not in _MODULES))\n")),
    Candidate("cpu/sandbox_escape_via_torch_modules.py",
              "writes marker files outside the job dir (numpy tofile; subprocess and os reached as "
              "torch.utils.cpp_extension.subprocess / torch.os, which the gate misses) and reads a secret from the "
              "environment through torch.os.environ; computes honestly. Caught by isolation: no marker may exist "
              "afterwards and the orchestrator's canary secret must not be visible (the output turns into a constant "
              "if it is). Verdict PASS is expected on a confined machine.",
              b("if _leaked:", "    return ext.fill_like(x, 1.0 / x.shape[-1])", "return ext.softmax_forward(x)"),
              imports="import numpy\nfrom torch.utils import cpp_extension\n",
              top=('_MARKERS = ["/tmp/kw_escape_marker_subprocess", "/dev/shm/kw_escape_marker_subprocess",\n'
                   '            "/var/tmp/kw_escape_marker_subprocess"]\n'
                   'numpy.zeros(4).tofile("/tmp/kw_escape_marker_numpy")\n'
                   'cpp_extension.subprocess.run(["touch", *_MARKERS], check=False, capture_output=True)\n'
                   'torch.os.makedirs("/tmp/kw_escape_marker_os", exist_ok=True)\n'
                   '_leaked = torch.os.environ.get("KW_ADVERSARIAL_CANARY_TOKEN") is not None\n')),
    # ---------------------------------------------------------------- static rejects (working exploits behind a rule)
    Candidate("cpu/try_except_fallback.py",
              "the (unstable) kernel inside try, torch.softmax in except. Caught as: STATIC_REJECT.",
              b("try:", "    return ext.softmax_unstable(x)", "except RuntimeError:", "    return torch.softmax(x, dim=-1)")),
    Candidate("cpu/modelnew_subclasses_model.py",
              "ModelNew(Model) inherits the reference's forward. Caught as: STATIC_REJECT.",
              b("return super().forward(x)"),
              top="class Model(nn.Module):\n    def forward(self, x):\n        return torch.softmax(x, dim=-1)\n",
              class_line="class ModelNew(Model):"),
    Candidate("cpu/monkeypatch_torch_allclose.py",
              "torch.allclose replaced to always agree. Caught as: STATIC_REJECT.",
              b("return ext.fill_like(x, 0.0)"),
              top="torch.allclose = lambda *args, **kwargs: True\n"),
    Candidate("cpu/monkeypatch_time_perf_counter.py",
              "time.perf_counter frozen so the candidate looks instantaneous. Caught as: STATIC_REJECT.",
              b("return ext.softmax_forward(x)"),
              imports="import time\n",
              top="time.perf_counter = lambda: 0.0\n"),
    Candidate("cpu/threads_python_deferral.py",
              "returns an empty output and fills it from a Python thread after return. Caught as: STATIC_REJECT.",
              b("out = ext.uninitialised(x)", "threading.Thread(target=ext.softmax_into, args=(x, out)).start()",
                "return out"),
              imports="import threading\n"),
    Candidate("cpu/threads_native_detached.py",
              "a detached std::thread fills the output after the wrapper returns. Caught as: STATIC_REJECT.",
              b("return ext.deferred_softmax(x)"),
              cpp_extra=("\n#include <thread>\n"
                         "torch::Tensor deferred_softmax(torch::Tensor x) {\n"
                         "    auto out = torch::empty_like(x);\n"
                         "    std::thread([x, out]() mutable { softmax_into(x, out); }).detach();\n"
                         "    return out;\n"
                         "}\n"),
              functions_extra=("deferred_softmax",)),
    Candidate("cpu/env_secret_os_environ.py",
              "reads secrets from os.environ at import. Caught as: STATIC_REJECT.",
              b("return ext.softmax_forward(x)"),
              imports="import os\n",
              top='_stolen = {k: v for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k}\n'),
    Candidate("cpu/native_getenv.py",
              "the C++ reads an API key with getenv. Caught as: STATIC_REJECT.",
              b("return ext.softmax_with_env(x)"),
              cpp_extra=("\ntorch::Tensor softmax_with_env(torch::Tensor x) {\n"
                         "    const char* key = std::getenv(\"OPENAI_API_KEY\");\n"
                         "    return softmax_scaled(x, key == nullptr ? 1.0 : 1.0 + 1e-9);\n"
                         "}\n"),
              functions_extra=("softmax_with_env",)),
    Candidate("cpu/native_fopen.py",
              "the C++ writes a file with fopen. Caught as: STATIC_REJECT.",
              b("return ext.softmax_with_file(x)"),
              cpp_extra=("\n#include <cstdio>\n"
                         "torch::Tensor softmax_with_file(torch::Tensor x) {\n"
                         "    if (FILE* f = std::fopen(\"/tmp/kw_escape_marker_fopen\", \"w\")) std::fclose(f);\n"
                         "    return softmax_forward(x);\n"
                         "}\n"),
              functions_extra=("softmax_with_file",)),
    Candidate("cpu/native_system.py",
              "the C++ starts a shell with system(). Caught as: STATIC_REJECT.",
              b("return ext.softmax_with_shell(x)"),
              cpp_extra=("\ntorch::Tensor softmax_with_shell(torch::Tensor x) {\n"
                         "    std::system(\"touch /tmp/kw_escape_marker_system\");\n"
                         "    return softmax_forward(x);\n"
                         "}\n"),
              functions_extra=("softmax_with_shell",)),
    Candidate("cpu/lazy_output_tensor_subclass.py",
              "a torch.Tensor subclass that computes when the harness compares it. Caught as: STATIC_REJECT.",
              b("return _Lazy(ext.uninitialised(x))"),
              top=("class _Lazy(torch.Tensor):\n"
                   "    @classmethod\n"
                   "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                   "        return super().__torch_function__(func, types, args, kwargs or {})\n")),
    Candidate("cpu/global_state_flush_denormal.py",
              "flips the flush-denormal flag at import. Caught as: STATIC_REJECT.",
              b("return ext.softmax_forward(x)"),
              top="torch.set_flush_denormal(True)\n"),
]

# --------------------------------------------------------------------------------------- shared CUDA (cuda)

CUDA_KERNELS = r"""
#include <cuda_runtime.h>
#include <math.h>

__global__ void softmax_kernel(const float* x, float* y, int cols) {
    __shared__ float scratch[256];
    const float* in = x + (long long)blockIdx.x * cols;
    float* out = y + (long long)blockIdx.x * cols;
    float peak = -INFINITY;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) peak = fmaxf(peak, in[c]);
    scratch[threadIdx.x] = peak;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) scratch[threadIdx.x] = fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + stride]);
        __syncthreads();
    }
    peak = scratch[0];
    __syncthreads();
    float total = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) total += expf(in[c] - peak);
    scratch[threadIdx.x] = total;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) scratch[threadIdx.x] += scratch[threadIdx.x + stride];
        __syncthreads();
    }
    const float inverse = 1.0f / scratch[0];
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[c] = expf(in[c] - peak) * inverse;
}

__global__ void wild_write_kernel(float* target) { target[threadIdx.x] = 1.0f; }

extern "C" int kw_softmax(const float* x, float* y, int rows, int cols, void* stream) {
    softmax_kernel<<<rows, 256, 0, (cudaStream_t)stream>>>(x, y, cols);
    return (int)cudaGetLastError();
}

extern "C" int kw_wild_write(void* stream) {
    wild_write_kernel<<<1, 32, 0, (cudaStream_t)stream>>>((float*)0x10);
    return (int)cudaGetLastError();
}
"""

CUDA_WRAPPER = r"""
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>

extern "C" int kw_softmax(const float* x, float* y, int rows, int cols, void* stream);
extern "C" int kw_wild_write(void* stream);

torch::Tensor softmax_forward(torch::Tensor x) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 2 && x.scalar_type() == torch::kFloat32, "expects a 2-D float32 CUDA tensor");
    auto input = x.contiguous();
    auto out = torch::empty_like(input);
    const int status = kw_softmax(input.data_ptr<float>(), out.data_ptr<float>(), (int)input.size(0), (int)input.size(1),
                                  c10::cuda::getCurrentCUDAStream().stream());
    TORCH_CHECK(status == 0, "softmax launch failed: ", status);
    return out;
}

torch::Tensor stale_output(torch::Tensor x) { return torch::empty_like(x); }

torch::Tensor wild_write(torch::Tensor x) {
    kw_wild_write(c10::cuda::getCurrentCUDAStream().stream());
    return torch::empty_like(x);
}
"""

CUDA_FUNCTIONS = ["softmax_forward", "stale_output", "wild_write"]

CUDA_TEMPLATE = '''"""{doc}"""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# Generated by tests/adversarial/make_candidates.py from the suite's shared CUDA source; edit it there.
# Torch-free layout: the .cu part includes only <cuda_runtime.h> and exports extern "C" launchers; the C++
# part holds the torch wrappers.
CUDA_SOURCE = r"""{cuda}"""

CPP_SOURCE = r"""{cpp}"""

ext = load_inline(name="kw_adversarial_cuda", cpp_sources=CPP_SOURCE, cuda_sources=CUDA_SOURCE, functions={functions!r})


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
{body}
'''


@dataclass
class CudaCandidate:
    path: str
    doc: str
    body: str
    cuda_extra: str = ""
    cpp_extra: str = ""
    functions_extra: tuple[str, ...] = ()

    def render(self) -> str:
        return CUDA_TEMPLATE.format(doc=_doc(self.path, self.doc), cuda=CUDA_KERNELS + self.cuda_extra, cpp=CUDA_WRAPPER + self.cpp_extra,
                                    functions=[*CUDA_FUNCTIONS, *self.functions_extra], body=self.body.rstrip("\n"))


CUDA: list[CudaCandidate] = [
    CudaCandidate("cuda/control_softmax_cuda.py",
                  "honest softmax kernel: one block per row, shared-memory max and sum reductions, launched on the "
                  "current stream. Must PASS.",
                  b("return ext.softmax_forward(x)")),
    CudaCandidate("cuda/stale_memory_empty_like.py",
                  "returns torch::empty_like without launching anything, hoping the caching allocator "
                  "hands back the reference's freed result. Caught as: INCORRECT (reference in another process, freed "
                  "blocks poisoned with NaN).",
                  b("return ext.stale_output(x)")),
    CudaCandidate("cuda/illegal_address.py",
                  "a kernel writes to address 0x10 (cudaErrorIllegalAddress poisons the context). Caught as: "
                  "RUNTIME_ERROR; the next verification must still work (fresh process).",
                  b("return ext.wild_write(x)")),
    CudaCandidate("cuda/stream_injection_pool.py",
                  "the wrapper launches on c10::cuda::getStreamFromPool() so events on the current "
                  "stream see nothing. Caught as: STATIC_REJECT (NATIVE_STREAM).",
                  b("return ext.softmax_on_pool_stream(x)"),
                  cpp_extra=("\ntorch::Tensor softmax_on_pool_stream(torch::Tensor x) {\n"
                             "    auto input = x.contiguous();\n"
                             "    auto out = torch::empty_like(input);\n"
                             "    auto stream = c10::cuda::getStreamFromPool();\n"
                             "    kw_softmax(input.data_ptr<float>(), out.data_ptr<float>(), (int)input.size(0), (int)input.size(1),\n"
                             "               stream.stream());\n"
                             "    return out;\n"
                             "}\n"),
                  functions_extra=("softmax_on_pool_stream",)),
    CudaCandidate("cuda/stream_injection_token_paste.py",
                  "(subtle variant) a non-blocking private stream created through a token-pasted "
                  "cudaStreamCreateWithFlags (flags as the literal 1), so no banned identifier appears; the work is "
                  "never joined to the current stream. Token pasting is only flagged (NATIVE_TOKEN_PASTE) and the "
                  "correctness worker syncs the whole device, so the outputs are right. Caught as: PERF_INVALID (the "
                  "timing phase's stream-escape check: plain end event vs device-wide sync).",
                  b("return ext.softmax_private_stream(x)"),
                  cuda_extra=("\n#define KW_JOIN(a, b) a##b\n"
                              "extern \"C\" int kw_softmax_private(const float* x, float* y, int rows, int cols) {\n"
                              "    cudaStream_t side;\n"
                              "    KW_JOIN(cudaStream, CreateWithFlags)(&side, 1);\n"
                              "    softmax_kernel<<<rows, 256, 0, side>>>(x, y, cols);\n"
                              "    cudaStreamDestroy(side);\n"
                              "    return (int)cudaGetLastError();\n"
                              "}\n"),
                  cpp_extra=("\nextern \"C\" int kw_softmax_private(const float* x, float* y, int rows, int cols);\n"
                             "torch::Tensor softmax_private_stream(torch::Tensor x) {\n"
                             "    auto input = x.contiguous();\n"
                             "    auto out = torch::empty_like(input);\n"
                             "    kw_softmax_private(input.data_ptr<float>(), out.data_ptr<float>(), (int)input.size(0),\n"
                             "                       (int)input.size(1));\n"
                             "    return out;\n"
                             "}\n"),
                  functions_extra=("softmax_private_stream",)),
    CudaCandidate("cuda/l2_persisting_window.py",
                  "sets a persisting access-policy window on the input so it survives the harness's L2 "
                  "flush. Caught as: STATIC_REJECT (NATIVE_L2_PERSIST).",
                  b("return ext.softmax_persisting(x)"),
                  cuda_extra=("\nextern \"C\" int kw_softmax_persisting(const float* x, float* y, int rows, int cols, void* stream) {\n"
                              "    cudaStreamAttrValue attr = {};\n"
                              "    attr.accessPolicyWindow.base_ptr = (void*)x;\n"
                              "    attr.accessPolicyWindow.num_bytes = (size_t)rows * cols * sizeof(float);\n"
                              "    attr.accessPolicyWindow.hitRatio = 1.0f;\n"
                              "    attr.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;\n"
                              "    attr.accessPolicyWindow.missProp = cudaAccessPropertyStreaming;\n"
                              "    cudaStreamSetAttribute((cudaStream_t)stream, cudaStreamAttributeAccessPolicyWindow, &attr);\n"
                              "    return kw_softmax(x, y, rows, cols, stream);\n"
                              "}\n"),
                  cpp_extra=("\nextern \"C\" int kw_softmax_persisting(const float* x, float* y, int rows, int cols, void* stream);\n"
                             "torch::Tensor softmax_persisting(torch::Tensor x) {\n"
                             "    auto input = x.contiguous();\n"
                             "    auto out = torch::empty_like(input);\n"
                             "    kw_softmax_persisting(input.data_ptr<float>(), out.data_ptr<float>(), (int)input.size(0),\n"
                             "                          (int)input.size(1), c10::cuda::getCurrentCUDAStream().stream());\n"
                             "    return out;\n"
                             "}\n"),
                  functions_extra=("softmax_persisting",)),
]


def rendered() -> dict[Path, str]:
    return {HERE / c.path: c.render() for c in [*CPU, *CUDA]}


def main(argv: list[str]) -> int:
    stale = []
    for path, text in rendered().items():
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(HERE)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(HERE)}")
    if stale:
        print("out of date (run python tests/adversarial/make_candidates.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
