// Dequantization kernels: FP8 block (e4m3 + 128x128 UE8M0) and MXFP4 (e2m1 + 1x32 UE8M0) -> bf16.
//
// Memory-bound: each thread loads 16-byte chunks of codes (consecutive threads, consecutive
// chunks: coalesced), decodes them in registers and writes 16-byte stores. A chunk never straddles
// a scale group (16 FP8 codes lie inside one 128-wide block; 32 MXFP4 codes are one group), so each
// chunk needs one scale byte. Every thread issues all its loads before its first decode.
#include <cuda_runtime.h>

#include "backends/cuda/sm90/weights/dequant_codec.h"
#include "backends/cuda/sm90/weights/dequant_kernels.h"

namespace dsv4::cuda::detail {
namespace {

constexpr int kThreads = 256;
constexpr int kChunksPerThread = 2;  // independent 16-byte loads in flight per thread
constexpr uint32_t kChunksPerBlock = kThreads * kChunksPerThread;

__device__ __forceinline__ uint4 load_streaming(const uint4* p) { return __ldcs(p); }

// 16 e4m3 codes with one scale byte -> 16 bf16 (two 16-byte stores' worth).
template <bool kPacked>
__device__ __forceinline__ void fp8_chunk(uint4 q, uint32_t s, uint4* o0, uint4* o1) {
  const uint32_t w[4] = {q.x, q.y, q.z, q.w};
  uint32_t r[8];
  if (s == 0xFFu) {
#pragma unroll
    for (int i = 0; i < 8; ++i) r[i] = uint32_t(kBf16NaN) * 0x00010001u;
  } else {
    bool scalar = !kPacked;
    if (kPacked) {
      const uint32_t scale_x2 = e8m0_scale_bf16x2(s);
      uint32_t nan_bits = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        nan_bits |= e4m3x4_nan_bits(w[i]);
        e4m3x4_scaled_bf16x2(w[i], scale_x2, &r[2 * i], &r[2 * i + 1]);
      }
      scalar = nan_bits != 0;  // rare: a NaN code in the chunk; redo it element by element
    }
    if (scalar) {
      const float scale = e8m0_scale(uint8_t(s));
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t lo = e4m3_scaled_bf16(w[i] & 0xFFu, scale);
        const uint32_t l1 = e4m3_scaled_bf16((w[i] >> 8) & 0xFFu, scale);
        const uint32_t h0 = e4m3_scaled_bf16((w[i] >> 16) & 0xFFu, scale);
        const uint32_t h1 = e4m3_scaled_bf16(w[i] >> 24, scale);
        r[2 * i] = lo | (l1 << 16);
        r[2 * i + 1] = h0 | (h1 << 16);
      }
    }
  }
  *o0 = make_uint4(r[0], r[1], r[2], r[3]);
  *o1 = make_uint4(r[4], r[5], r[6], r[7]);
}

// 32 e2m1 codes with one scale byte -> 32 bf16 (four 16-byte stores' worth).
template <bool kPacked>
__device__ __forceinline__ void mxfp4_chunk(uint4 q, uint32_t s, uint32_t r[16]) {
  const uint32_t w[4] = {q.x, q.y, q.z, q.w};
  if (s == 0xFFu) {
#pragma unroll
    for (int i = 0; i < 16; ++i) r[i] = uint32_t(kBf16NaN) * 0x00010001u;
  } else if (kPacked) {
    const uint32_t scale_x2 = e8m0_scale_bf16x2(s);
#pragma unroll
    for (int i = 0; i < 4; ++i) e2m1x8_scaled_bf16x2(w[i], scale_x2, &r[4 * i]);
  } else {
    const float scale = e8m0_scale(uint8_t(s));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const uint32_t byte = (w[i] >> (8 * k)) & 0xFFu;
        r[4 * i + k] = uint32_t(e2m1_scaled_bf16(byte & 0xFu, scale)) |
                       (uint32_t(e2m1_scaled_bf16(byte >> 4, scale)) << 16);
      }
    }
  }
}

// weight: n_chunks 16-byte chunks of e4m3 codes, chunks_per_row = cols / 16 per row;
// scale [ceil(rows/128), scale_cols]; out: 2 * n_chunks 16-byte chunks of bf16.
template <bool kPacked>
__global__ void __launch_bounds__(kThreads) fp8_block_dequant_kernel(
    const uint4* __restrict__ weight, const uint8_t* __restrict__ scale, uint4* __restrict__ out,
    uint32_t n_chunks, uint32_t chunks_per_row, uint32_t scale_cols) {
  const uint32_t first = blockIdx.x * kChunksPerBlock + threadIdx.x;
  uint4 q[kChunksPerThread];
  uint32_t s[kChunksPerThread];
#pragma unroll
  for (int k = 0; k < kChunksPerThread; ++k) {
    const uint32_t idx = first + uint32_t(k) * kThreads;
    if (idx < n_chunks) {
      q[k] = load_streaming(weight + idx);
      const uint32_t row = idx / chunks_per_row;
      const uint32_t col_chunk = idx - row * chunks_per_row;  // 16 columns each; 8 per scale block
      s[k] = __ldg(scale + size_t(row >> 7) * scale_cols + (col_chunk >> 3));
    }
  }
#pragma unroll
  for (int k = 0; k < kChunksPerThread; ++k) {
    const uint32_t idx = first + uint32_t(k) * kThreads;
    if (idx < n_chunks) {
      uint4 o0, o1;
      fp8_chunk<kPacked>(q[k], s[k], &o0, &o1);
      out[2 * size_t(idx)] = o0;
      out[2 * size_t(idx) + 1] = o1;
    }
  }
}

// weight: n_chunks 16-byte chunks of packed e2m1 (32 elements = one scale group each), so chunk i
// uses scale byte i; out: 4 * n_chunks 16-byte chunks of bf16.
template <bool kPacked>
__global__ void __launch_bounds__(kThreads) mxfp4_dequant_kernel(
    const uint4* __restrict__ weight, const uint8_t* __restrict__ scale, uint4* __restrict__ out,
    uint32_t n_chunks) {
  const uint32_t first = blockIdx.x * kChunksPerBlock + threadIdx.x;
  uint4 q[kChunksPerThread];
  uint32_t s[kChunksPerThread];
#pragma unroll
  for (int k = 0; k < kChunksPerThread; ++k) {
    const uint32_t idx = first + uint32_t(k) * kThreads;
    if (idx < n_chunks) {
      q[k] = load_streaming(weight + idx);
      s[k] = __ldg(scale + idx);
    }
  }
#pragma unroll
  for (int k = 0; k < kChunksPerThread; ++k) {
    const uint32_t idx = first + uint32_t(k) * kThreads;
    if (idx < n_chunks) {
      uint32_t r[16];
      mxfp4_chunk<kPacked>(q[k], s[k], r);
      uint4* o = out + 4 * size_t(idx);
      o[0] = make_uint4(r[0], r[1], r[2], r[3]);
      o[1] = make_uint4(r[4], r[5], r[6], r[7]);
      o[2] = make_uint4(r[8], r[9], r[10], r[11]);
      o[3] = make_uint4(r[12], r[13], r[14], r[15]);
    }
  }
}

unsigned blocks_for(uint32_t n_chunks) { return (n_chunks + kChunksPerBlock - 1) / kChunksPerBlock; }

}  // namespace

cudaError_t launch_fp8_block_dequant(const uint8_t* weight, const uint8_t* scale, uint16_t* out,
                                     int64_t rows, int64_t cols, bool packed, cudaStream_t stream) {
  const uint32_t chunks_per_row = uint32_t(cols / 16);
  const uint32_t n_chunks = uint32_t(rows * (cols / 16));
  const uint32_t scale_cols = uint32_t((cols + 127) / 128);
  const auto* w = reinterpret_cast<const uint4*>(weight);
  auto* o = reinterpret_cast<uint4*>(out);
  if (packed)
    fp8_block_dequant_kernel<true><<<blocks_for(n_chunks), kThreads, 0, stream>>>(w, scale, o, n_chunks,
                                                                                  chunks_per_row, scale_cols);
  else
    fp8_block_dequant_kernel<false><<<blocks_for(n_chunks), kThreads, 0, stream>>>(w, scale, o, n_chunks,
                                                                                   chunks_per_row, scale_cols);
  return cudaGetLastError();
}

cudaError_t launch_mxfp4_dequant(const uint8_t* weight, const uint8_t* scale, uint16_t* out,
                                 int64_t rows, int64_t cols, bool packed, cudaStream_t stream) {
  const uint32_t n_chunks = uint32_t(rows * (cols / 32));
  const auto* w = reinterpret_cast<const uint4*>(weight);
  auto* o = reinterpret_cast<uint4*>(out);
  if (packed)
    mxfp4_dequant_kernel<true><<<blocks_for(n_chunks), kThreads, 0, stream>>>(w, scale, o, n_chunks);
  else
    mxfp4_dequant_kernel<false><<<blocks_for(n_chunks), kThreads, 0, stream>>>(w, scale, o, n_chunks);
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
