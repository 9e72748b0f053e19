"""Fast build layout: exact GELU with a grid-stride loop."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CUDA_SOURCE = r"""
#include <cuda_runtime.h>
#include <math.h>

__global__ void gelu_kernel(const float* x, float* y, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    }
}

extern "C" void launch_gelu(const float* x, float* y, long n, cudaStream_t stream) {
    gelu_kernel<<<1024, 256, 0, stream>>>(x, y, n);
}
"""

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>

extern "C" void launch_gelu(const float* x, float* y, long n, cudaStream_t stream);

torch::Tensor gelu(torch::Tensor x) {
    auto y = torch::empty_like(x);
    launch_gelu(x.data_ptr<float>(), y.data_ptr<float>(), x.numel(), c10::cuda::getCurrentCUDAStream());
    return y;
}
"""

ext = load_inline(name="gelu", cpp_sources=CPP_SOURCE, cuda_sources=CUDA_SOURCE, functions=["gelu"])


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.gelu(x.contiguous())
