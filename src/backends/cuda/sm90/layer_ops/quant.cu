// Kernels of fake_quant_fp8, fake_quant_nvfp4 and hadamard_fp4 (bit-exact with core/quant.h; the
// per-element numerics are codec.h's, which the host tests check against the CPU directly).
#include <cuda_runtime.h>

#include "backends/cuda/sm90/layer_ops/codec.h"
#include "backends/cuda/sm90/layer_ops/kernels.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::layer;

// One warp per (row, block) segment.
__global__ void __launch_bounds__(256) fake_quant_fp8_kernel(float* x, int64_t rows, int64_t ld, int64_t c0,
                                                             int64_t n, int64_t block, int64_t nseg, bool bf16) {
  const int64_t seg = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = int(threadIdx.x & 31);
  if (seg >= rows * nseg) return;
  const int64_t r = seg / nseg, b = seg - r * nseg;
  const int64_t b0 = b * block;
  const int64_t len = min(block, n - b0);
  float* p = x + r * ld + c0 + b0;
  float amax = 0.0f;
  for (int64_t i = lane; i < len; i += 32) amax = amax_step(amax, p[i]);
  for (int o = 16; o > 0; o >>= 1) amax = amax_join(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float s = fp8_block_scale(amax);
  for (int64_t i = lane; i < len; i += 32) p[i] = bits_to_f32(fp8_fake_elem(p[i], s, bf16));
}

// 16 lanes per 1x16 block.
__global__ void __launch_bounds__(256) fake_quant_nvfp4_kernel(float* x, int64_t rows, int64_t n, int64_t nseg,
                                                               float input_scale, float inv_global) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t seg = g / 16;
  const int l16 = int(g & 15);
  const int64_t r = seg / nseg, b = seg - r * nseg;
  const int64_t c = b * 16 + l16;
  const bool valid = seg < rows * nseg && c < n;
  float* p = x + r * n + c;
  const float v = valid ? *p : 0.0f;
  float amax = amax_step(0.0f, v);
  for (int o = 8; o > 0; o >>= 1) amax = amax_join(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  if (!valid) return;
  const float sf = nvfp4_block_sf(amax, inv_global);
  if (!(sf > 0.0f)) {  // 0, or NaN (propagated as the CPU's quiet NaN)
    *p = nan_bits(f32_to_bits(sf)) ? bits_to_f32(kQuietNaN) : 0.0f;
    return;
  }
  const float step = mul_rn(sf, input_scale);
  *p = bits_to_f32(fp4_fake_elem(v, step, false));
}

// One warp per row of n = 32·E; lane l holds elements [l·E, l·E + E).
template <int E>
__global__ void __launch_bounds__(256) hadamard_fp4_kernel(float* x, int64_t rows, float scale) {
  constexpr int n = 32 * E;
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = int(threadIdx.x & 31);
  if (r >= rows) return;
  float* p = x + r * n + lane * E;
  float v[E];
#pragma unroll
  for (int e = 0; e < E; ++e) v[e] = p[e];
  // stages inside a lane
#pragma unroll
  for (int h = 1; h < E; h <<= 1) {
#pragma unroll
    for (int i = 0; i < E; i += 2 * h) {
#pragma unroll
      for (int j = i; j < i + h; ++j) {
        const float a = v[j], b = v[j + h];
        v[j] = add_rn(a, b);
        v[j + h] = sub_rn(a, b);
      }
    }
  }
  // stages across lanes: partner lane = lane ^ (h / E)
#pragma unroll
  for (int h = E; h < n; h <<= 1) {
    const int m = h / E;
    const bool upper = (lane & m) != 0;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const float other = __shfl_xor_sync(0xFFFFFFFFu, v[e], m);
      v[e] = upper ? sub_rn(other, v[e]) : add_rn(v[e], other);
    }
  }
#pragma unroll
  for (int e = 0; e < E; ++e) v[e] = mul_rn(v[e], scale);
  // FP4 blocks of 32 elements = 32 / E lanes
  float amax = 0.0f;
#pragma unroll
  for (int e = 0; e < E; ++e) amax = amax_step(amax, v[e]);
#pragma unroll
  for (int o = (32 / E) / 2; o > 0; o >>= 1) amax = amax_join(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float s = fp4_block_scale(amax);
#pragma unroll
  for (int e = 0; e < E; ++e) p[e] = bits_to_f32(fp4_fake_elem(v[e], s, true));
}

}  // namespace

cudaError_t launch_fake_quant_fp8(const FakeQuantFp8Params& p, cudaStream_t stream) {
  const int64_t nseg = (p.n + p.block - 1) / p.block;
  const int64_t warps = p.rows * nseg;
  fake_quant_fp8_kernel<<<unsigned((warps + 7) / 8), 256, 0, stream>>>(p.x, p.rows, p.ld, p.c0, p.n, p.block, nseg,
                                                                        p.bf16_out);
  return cudaGetLastError();
}

cudaError_t launch_fake_quant_nvfp4(const FakeQuantNvfp4Params& p, float inv_global, cudaStream_t stream) {
  const int64_t nseg = (p.n + 15) / 16;
  const int64_t threads = p.rows * nseg * 16;
  fake_quant_nvfp4_kernel<<<unsigned((threads + 255) / 256), 256, 0, stream>>>(p.x, p.rows, p.n, nseg,
                                                                                p.input_scale, inv_global);
  return cudaGetLastError();
}

cudaError_t launch_hadamard_fp4(const HadamardFp4Params& p, float scale, cudaStream_t stream) {
  const unsigned blocks = unsigned((p.rows + 7) / 8);
  switch (p.n) {
    case 32: hadamard_fp4_kernel<1><<<blocks, 256, 0, stream>>>(p.x, p.rows, scale); break;
    case 64: hadamard_fp4_kernel<2><<<blocks, 256, 0, stream>>>(p.x, p.rows, scale); break;
    case 128: hadamard_fp4_kernel<4><<<blocks, 256, 0, stream>>>(p.x, p.rows, scale); break;
    case 256: hadamard_fp4_kernel<8><<<blocks, 256, 0, stream>>>(p.x, p.rows, scale); break;
    case 512: hadamard_fp4_kernel<16><<<blocks, 256, 0, stream>>>(p.x, p.rows, scale); break;
    case 1024: hadamard_fp4_kernel<32><<<blocks, 256, 0, stream>>>(p.x, p.rows, scale); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
