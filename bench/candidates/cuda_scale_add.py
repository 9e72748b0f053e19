"""Fast build layout: y = alpha * a + b. The CUDA part includes only <cuda_runtime.h>; the torch wrapper is C++."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CUDA_SOURCE = r"""
#include <cuda_runtime.h>

__global__ void scale_add_kernel(const float* a, const float* b, float* y, float alpha, long n) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = alpha * a[i] + b[i];
}

extern "C" void launch_scale_add(const float* a, const float* b, float* y, float alpha, long n, cudaStream_t stream) {
    int threads = 256;
    long blocks = (n + threads - 1) / threads;
    scale_add_kernel<<<blocks, threads, 0, stream>>>(a, b, y, alpha, n);
}
"""

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>

extern "C" void launch_scale_add(const float* a, const float* b, float* y, float alpha, long n, cudaStream_t stream);

torch::Tensor scale_add(torch::Tensor a, torch::Tensor b, double alpha) {
    auto y = torch::empty_like(a);
    launch_scale_add(a.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>(), (float)alpha, a.numel(),
                     c10::cuda::getCurrentCUDAStream());
    return y;
}
"""

ext = load_inline(name="scale_add", cpp_sources=CPP_SOURCE, cuda_sources=CUDA_SOURCE, functions=["scale_add"])


class ModelNew(nn.Module):
    def forward(self, a, b):
        return ext.scale_add(a.contiguous(), b.contiguous(), 2.0)
