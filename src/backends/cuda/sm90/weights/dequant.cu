// Dequantization kernels: FP8 block (e4m3 + 128x128 UE8M0) and MXFP4 (e2m1 + 1x32 UE8M0) -> bf16.
//
// Memory-bound. Each thread loads 16-byte chunks of codes (a warp's load instruction reads 512
// contiguous bytes), all its chunks before decoding the first, and decodes them in registers
// (dequant_codec.h). A chunk never straddles a scale group (16 FP8 codes lie inside one 128-wide
// block; 32 MXFP4 codes are one group), so each chunk needs one scale byte. A chunk's output is
// 32 (FP8) or 64 (MXFP4) contiguous bytes; with staged stores a warp passes its output through
// shared memory so that each 16-byte store instruction also writes 512 contiguous bytes.
// Variants (dequant_kernels.h) exist so that the benchmark and the tests can compare them.
#include <cuda_runtime.h>

#include <type_traits>

#include "backends/cuda/sm90/weights/dequant_codec.h"
#include "backends/cuda/sm90/weights/dequant_kernels.h"

namespace dsv4::cuda::detail {
namespace {

constexpr int kThreads = 256;

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

// Shared-memory staging of one warp's output (stage_slot in dequant_codec.h says how).
template <int kPieces>
__device__ __forceinline__ void store_warp_staged(uint4* stage, const uint4 (&r)[kPieces], uint4* __restrict__ out,
                                                  uint32_t warp_first_chunk, uint32_t n_chunks, uint32_t lane) {
#pragma unroll
  for (int j = 0; j < kPieces; ++j) stage[stage_slot<kPieces>(lane, uint32_t(j))] = r[j];
  __syncwarp();
#pragma unroll
  for (int j = 0; j < kPieces; ++j) {
    const uint32_t pos = uint32_t(j) * 32 + lane;
    const uint32_t owner = pos / kPieces, piece = pos % kPieces;
    if (warp_first_chunk + owner < n_chunks)
      out[size_t(warp_first_chunk) * kPieces + pos] = stage[stage_slot<kPieces>(owner, piece)];
  }
  __syncwarp();
}

// The work of one thread: kUnroll chunks (all loaded before the first is decoded); chunk k of
// thread t in block b is b * kThreads * kUnroll + k * kThreads + t, so each load instruction of a
// warp reads 512 contiguous bytes. Decode(q, scale_byte, r) turns a chunk into kPieces pieces.
template <int kPieces, bool kStaged, int kUnroll, typename ScaleIndex, typename Decode>
__device__ __forceinline__ void dequant_chunks(const uint4* __restrict__ weight, const uint8_t* __restrict__ scale,
                                               uint4* __restrict__ out, uint32_t n_chunks, ScaleIndex scale_index,
                                               Decode decode) {
  __shared__ uint4 stage_all[kStaged ? kThreads * kPieces : 1];
  const uint32_t lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const uint32_t first = blockIdx.x * uint32_t(kThreads * kUnroll) + threadIdx.x;
  uint4 q[kUnroll];
  uint32_t s[kUnroll];
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    const uint32_t idx = first + uint32_t(k) * kThreads;
    q[k] = make_uint4(0, 0, 0, 0);
    s[k] = 0;
    if (idx < n_chunks) {
      q[k] = load_streaming(weight + idx);
      s[k] = __ldg(scale + scale_index(idx));
    }
  }
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    const uint32_t idx = first + uint32_t(k) * kThreads;
    uint4 r[kPieces];
    decode(q[k], s[k], r);
    if (kStaged) {
      store_warp_staged<kPieces>(stage_all + warp * 32 * kPieces, r, out, idx - lane, n_chunks, lane);
    } else if (idx < n_chunks) {
#pragma unroll
      for (int j = 0; j < kPieces; ++j) out[size_t(idx) * kPieces + j] = r[j];
    }
  }
}

// weight: n_chunks 16-byte chunks of e4m3 codes, chunks_per_row = cols / 16 per row;
// scale [ceil(rows/128), scale_cols]; out: 2 * n_chunks 16-byte pieces of bf16.
template <bool kPacked, bool kStaged, int kUnroll>
__global__ void __launch_bounds__(kThreads) fp8_block_dequant_kernel(
    const uint4* __restrict__ weight, const uint8_t* __restrict__ scale, uint4* __restrict__ out,
    uint32_t n_chunks, uint32_t chunks_per_row, uint32_t scale_cols) {
  dequant_chunks<2, kStaged, kUnroll>(
      weight, scale, out, n_chunks,
      [=](uint32_t idx) {
        const uint32_t row = idx / chunks_per_row;
        const uint32_t col_chunk = idx - row * chunks_per_row;  // 16 columns each; 8 per scale block
        return size_t(row >> 7) * scale_cols + (col_chunk >> 3);
      },
      [](uint4 q, uint32_t s, uint4 (&r)[2]) { fp8_chunk<kPacked>(q, s, &r[0], &r[1]); });
}

// weight: n_chunks 16-byte chunks of packed e2m1 (32 elements = one scale group each), so chunk i
// uses scale byte i; out: 4 * n_chunks 16-byte pieces of bf16.
template <bool kPacked, bool kStaged, int kUnroll>
__global__ void __launch_bounds__(kThreads) mxfp4_dequant_kernel(
    const uint4* __restrict__ weight, const uint8_t* __restrict__ scale, uint4* __restrict__ out,
    uint32_t n_chunks) {
  dequant_chunks<4, kStaged, kUnroll>(
      weight, scale, out, n_chunks, [](uint32_t idx) { return size_t(idx); },
      [](uint4 q, uint32_t s, uint4 (&r)[4]) {
        uint32_t w[16];
        mxfp4_chunk<kPacked>(q, s, w);
#pragma unroll
        for (int j = 0; j < 4; ++j) r[j] = make_uint4(w[4 * j], w[4 * j + 1], w[4 * j + 2], w[4 * j + 3]);
      });
}

// Calls f(kernel pointer) for the instantiation that `v` names.
template <typename KernelOf, typename F>
cudaError_t with_variant(const KernelVariant& v, F f) {
  auto by_unroll = [&](auto packed, auto staged) -> cudaError_t {
    switch (v.chunks_per_thread) {
      case 1: return f(KernelOf::template get<decltype(packed)::value, decltype(staged)::value, 1>(), 1);
      case 2: return f(KernelOf::template get<decltype(packed)::value, decltype(staged)::value, 2>(), 2);
      case 4: return f(KernelOf::template get<decltype(packed)::value, decltype(staged)::value, 4>(), 4);
      default: return cudaErrorInvalidValue;
    }
  };
  using T = std::true_type;
  using F_ = std::false_type;
  if (v.packed) return v.staged_stores ? by_unroll(T{}, T{}) : by_unroll(T{}, F_{});
  return v.staged_stores ? by_unroll(F_{}, T{}) : by_unroll(F_{}, F_{});
}

struct Fp8Kernels {
  template <bool P, bool S, int U>
  static auto get() { return &fp8_block_dequant_kernel<P, S, U>; }
};
struct Mxfp4Kernels {
  template <bool P, bool S, int U>
  static auto get() { return &mxfp4_dequant_kernel<P, S, U>; }
};

unsigned blocks_for(uint32_t n_chunks, int unroll) {
  const uint32_t per_block = uint32_t(kThreads * unroll);
  return (n_chunks + per_block - 1) / per_block;
}

}  // namespace

cudaError_t launch_fp8_block_dequant(const uint8_t* weight, const uint8_t* scale, uint16_t* out, int64_t rows,
                                     int64_t cols, KernelVariant variant, cudaStream_t stream) {
  const uint32_t chunks_per_row = uint32_t(cols / 16);
  const uint32_t n_chunks = uint32_t(rows * (cols / 16));
  const uint32_t scale_cols = uint32_t((cols + 127) / 128);
  const auto* w = reinterpret_cast<const uint4*>(weight);
  auto* o = reinterpret_cast<uint4*>(out);
  return with_variant<Fp8Kernels>(variant, [&](auto kernel, int unroll) {
    kernel<<<blocks_for(n_chunks, unroll), kThreads, 0, stream>>>(w, scale, o, n_chunks, chunks_per_row, scale_cols);
    return cudaGetLastError();
  });
}

cudaError_t launch_mxfp4_dequant(const uint8_t* weight, const uint8_t* scale, uint16_t* out, int64_t rows,
                                 int64_t cols, KernelVariant variant, cudaStream_t stream) {
  const uint32_t n_chunks = uint32_t(rows * (cols / 32));
  const auto* w = reinterpret_cast<const uint4*>(weight);
  auto* o = reinterpret_cast<uint4*>(out);
  return with_variant<Mxfp4Kernels>(variant, [&](auto kernel, int unroll) {
    kernel<<<blocks_for(n_chunks, unroll), kThreads, 0, stream>>>(w, scale, o, n_chunks);
    return cudaGetLastError();
  });
}

}  // namespace dsv4::cuda::detail
