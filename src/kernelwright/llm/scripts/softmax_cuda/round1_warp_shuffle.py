"""Round 1: one block per row, warp-shuffle reductions, the row's max and sum in one online pass."""

import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

CUDA_SOURCE = r"""
#include <cuda_runtime.h>
#include <math.h>

__device__ __forceinline__ void merge(float& m, float& s, float om, float os) {
    const float top = fmaxf(m, om);
    s = (m == -INFINITY ? 0.f : s * expf(m - top)) + (om == -INFINITY ? 0.f : os * expf(om - top));
    m = top;
}

__global__ void online_softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int cols) {
    __shared__ float warp_max[32];
    __shared__ float warp_sum[32];
    const float* in = x + (long)blockIdx.x * cols;
    float* out = y + (long)blockIdx.x * cols;
    float m = -INFINITY, s = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) merge(m, s, in[c], 1.f);
    for (int offset = 16; offset > 0; offset >>= 1)
        merge(m, s, __shfl_xor_sync(0xffffffff, m, offset), __shfl_xor_sync(0xffffffff, s, offset));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) { warp_max[warp] = m; warp_sum[warp] = s; }
    __syncthreads();
    if (warp == 0) {
        const int warps = blockDim.x / 32;
        m = lane < warps ? warp_max[lane] : -INFINITY;
        s = lane < warps ? warp_sum[lane] : 0.f;
        for (int offset = 16; offset > 0; offset >>= 1)
            merge(m, s, __shfl_xor_sync(0xffffffff, m, offset), __shfl_xor_sync(0xffffffff, s, offset));
        if (lane == 0) { warp_max[0] = m; warp_sum[0] = s; }
    }
    __syncthreads();
    const float peak = warp_max[0], inv = 1.f / warp_sum[0];
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[c] = expf(in[c] - peak) * inv;
}

extern "C" void launch_online_softmax(const float* x, float* y, int rows, int cols, cudaStream_t stream) {
    online_softmax_kernel<<<rows, 512, 0, stream>>>(x, y, cols);
}
"""

CPP_SOURCE = r"""
#include <torch/extension.h>
#include <c10/cuda/CUDAStream.h>

extern "C" void launch_online_softmax(const float* x, float* y, int rows, int cols, cudaStream_t stream);

torch::Tensor online_softmax(torch::Tensor x) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 2 && x.scalar_type() == torch::kFloat32, "expects a 2-D float32 CUDA tensor");
    auto input = x.contiguous();
    auto y = torch::empty_like(input);
    launch_online_softmax(input.data_ptr<float>(), y.data_ptr<float>(), input.size(0), input.size(1),
                          c10::cuda::getCurrentCUDAStream());
    return y;
}
"""

ext = load_inline(name="softmax_cuda_v1", cpp_sources=CPP_SOURCE, cuda_sources=CUDA_SOURCE, functions=["online_softmax"])


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return ext.online_softmax(x)
