// The skinny-fp32 kernel (skinny.h states the per-output arithmetic it implements). Device code
// only; included by skinny.cu.
//
// CTA: KS·NW warps. Warp w works on K slice s = w % KS and on the RN output columns
// [(blockIdx.y·NW + w / KS)·RN, + RN) of group blockIdx.z, for the MR rows of x starting at
// blockIdx.x·MR (the M chunk is the fastest grid dimension, so the CTAs that read the same weight
// rows run together and share them through L2). Per batch of U steps a lane first issues all its
// U·RN 16-byte weight loads (streamed past L1), then decodes them and runs the FMAs against x
// vectors read through the read-only path. Slice sums meet in shared memory and are added in
// slice order by one thread per output.
#pragma once

#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/sm90/gemm/gemm_codec.h"

namespace dsv4::cuda::skinny {

enum Wf : int { kF32 = 0, kBF16 = 1, kFP8 = 2 };

template <int WF>
struct Fmt {
  static constexpr int VW = WF == kF32 ? 4 : WF == kBF16 ? 8 : 16;  // elements per 16-byte vector
  static constexpr int EB = WF == kF32 ? 4 : WF == kBF16 ? 2 : 1;   // bytes per element
};

struct Args {
  const float* x = nullptr;   // [M, ldx]
  int64_t ldx = 0;
  int64_t M = 0;
  const uint8_t* w = nullptr;  // [rows, K] in the format's element size
  const uint8_t* s = nullptr;  // FP8: e8m0 [ceil(rows/128), KB]
  int64_t K = 0, KB = 0;       // KB = ceil(K/128)
  int64_t N = 0;               // columns per group
  int64_t row0 = 0;
  float* y = nullptr;          // [M, ldy]
  int64_t ldy = 0;
  float alpha = 1.0f;
  int accumulate = 0;
  int ks = 1, nw = 1;          // K slices, warps along N
  int xvec = 0;                // x 16-byte aligned, ldx % 4 == 0, K % 4 == 0
  int wvec = 0;                // W 16-byte aligned, K % VW == 0
};

constexpr int kMaxWarps = 8;

// 16 bytes of weight that are read once: bypass L1 (x lives there).
__device__ __forceinline__ uint4 ld_stream16(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// The raw bytes of weight elements k0 .. k0+VW of `row` (k0 % VW == 0); elements past K read as 0.
template <int WF>
__device__ __forceinline__ uint4 load_w(const Args& a, int64_t row, int64_t k0) {
  constexpr int VW = Fmt<WF>::VW, EB = Fmt<WF>::EB;
  const uint8_t* p = a.w + (row * a.K + k0) * EB;
  if (a.wvec) return k0 < a.K ? ld_stream16(p) : make_uint4(0, 0, 0, 0);  // whole vectors only
  uint32_t wd[4] = {0, 0, 0, 0};
#pragma unroll
  for (int i = 0; i < VW; ++i) {
    if (k0 + i < a.K) {
      uint32_t v;
      if constexpr (EB == 4) v = __ldg(reinterpret_cast<const unsigned int*>(p) + i);
      else if constexpr (EB == 2) v = __ldg(reinterpret_cast<const unsigned short*>(p) + i);
      else v = __ldg(reinterpret_cast<const unsigned char*>(p) + i);
      wd[(i * EB) / 4] |= v << (8 * ((i * EB) % 4));
    }
  }
  return make_uint4(wd[0], wd[1], wd[2], wd[3]);
}

// The FP8 block scale of (row, k0) as fp32 (0 past K: that vector is all zero codes).
__device__ __forceinline__ float load_scale(const Args& a, int64_t row, int64_t k0) {
  if (k0 >= a.K) return 0.0f;
  return gemm::e8m0_value(__ldg(a.s + (row / 128) * a.KB + k0 / 128));
}

// Exact fp32 values of the VW elements in v (FP8: code · scale, exact for a power-of-two scale).
template <int WF>
__device__ __forceinline__ void decode(const uint4 v, float scale, float out[Fmt<WF>::VW]) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
  if constexpr (WF == kF32) {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = bits_to_f32(w[i]);
  } else if constexpr (WF == kBF16) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = bits_to_f32(w[i] << 16);
      out[2 * i + 1] = bits_to_f32(w[i] & 0xFFFF0000u);
    }
  } else {
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      __nv_fp8_e4m3 q;
      q.__x = uint8_t(w[i / 4] >> (8 * (i % 4)));
      out[i] = float(q) * scale;
    }
  }
}

// x[k0 .. k0+VW) of one row (0 past K, and for rows past M: xrow == nullptr).
template <int VW>
__device__ __forceinline__ void load_x(const Args& a, const float* xrow, int64_t k0, float out[VW]) {
  if (xrow == nullptr) {
#pragma unroll
    for (int i = 0; i < VW; ++i) out[i] = 0.0f;
    return;
  }
  if (a.xvec) {  // K % 4 == 0: each float4 is whole or past K
#pragma unroll
    for (int q = 0; q < VW / 4; ++q) {
      const int64_t k = k0 + 4 * q;
      const float4 v = k < a.K ? __ldg(reinterpret_cast<const float4*>(xrow + k)) : make_float4(0.f, 0.f, 0.f, 0.f);
      out[4 * q] = v.x;
      out[4 * q + 1] = v.y;
      out[4 * q + 2] = v.z;
      out[4 * q + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < VW; ++i) out[i] = k0 + i < a.K ? __ldg(xrow + k0 + i) : 0.0f;
  }
}

__device__ __forceinline__ void store_out(const Args& a, int64_t m, int64_t col, float v) {
  if (m >= a.M || col >= a.N) return;
  float* yp = a.y + m * a.ldy + int64_t(blockIdx.z) * a.N + col;
  const float o = a.alpha * v;
  *yp = a.accumulate ? *yp + o : o;
}

template <int WF, int MR, int RN>
__global__ void __launch_bounds__(kMaxWarps * 32) skinny_gemm(const Args a) {
  constexpr int VW = Fmt<WF>::VW, SE = 32 * VW;
  constexpr int U = MR <= 2 ? 4 : 2;  // steps per batch of loads in flight
  __shared__ float red[kMaxWarps][MR][RN];
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int ks = a.ks, slice = warp % ks, wg = warp / ks;
  const int64_t m0 = int64_t(blockIdx.x) * MR;
  const int64_t col0 = (int64_t(blockIdx.y) * a.nw + wg) * RN;
  const int64_t grp = blockIdx.z;

  const float* xr[MR];
#pragma unroll
  for (int m = 0; m < MR; ++m) xr[m] = m0 + m < a.M ? a.x + grp * a.K + (m0 + m) * a.ldx : nullptr;
  int64_t wrow[RN];
  bool wok[RN];
#pragma unroll
  for (int r = 0; r < RN; ++r) {
    wok[r] = col0 + r < a.N;
    wrow[r] = a.row0 + grp * a.N + col0 + r;
  }

  float acc[MR][RN];
#pragma unroll
  for (int m = 0; m < MR; ++m)
#pragma unroll
    for (int r = 0; r < RN; ++r) acc[m][r] = 0.0f;

  const int64_t C = (a.K + SE - 1) / SE;
  for (int64_t cb = slice; cb < C; cb += int64_t(ks) * U) {
    uint4 raw[U][RN];
    float sc[U][RN];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t c = cb + int64_t(u) * ks, k0 = c * SE + lane * VW;
#pragma unroll
      for (int r = 0; r < RN; ++r) {
        const bool ok = c < C && wok[r];
        raw[u][r] = ok ? load_w<WF>(a, wrow[r], k0) : make_uint4(0, 0, 0, 0);
        if constexpr (WF == kFP8) sc[u][r] = ok ? load_scale(a, wrow[r], k0) : 0.0f;
        else sc[u][r] = 1.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t c = cb + int64_t(u) * ks, k0 = c * SE + lane * VW;
      if (c >= C) break;  // warp-uniform
      // Same FMAs per accumulator either way; the loop order only trades registers.
      if constexpr (MR <= 2) {  // x vectors of every row first, then one decoded weight row at a time
        float xv[MR][VW];
#pragma unroll
        for (int m = 0; m < MR; ++m) load_x<VW>(a, xr[m], k0, xv[m]);
#pragma unroll
        for (int r = 0; r < RN; ++r) {
          float wv[VW];
          decode<WF>(raw[u][r], sc[u][r], wv);
#pragma unroll
          for (int m = 0; m < MR; ++m)
#pragma unroll
            for (int i = 0; i < VW; ++i) acc[m][r] = fmaf(xv[m][i], wv[i], acc[m][r]);
        }
      } else {  // every weight row decoded first, then one x vector at a time
        float wv[RN][VW];
#pragma unroll
        for (int r = 0; r < RN; ++r) decode<WF>(raw[u][r], sc[u][r], wv[r]);
#pragma unroll
        for (int m = 0; m < MR; ++m) {
          float xv[VW];
          load_x<VW>(a, xr[m], k0, xv);
#pragma unroll
          for (int r = 0; r < RN; ++r)
#pragma unroll
            for (int i = 0; i < VW; ++i) acc[m][r] = fmaf(xv[i], wv[r][i], acc[m][r]);
        }
      }
    }
  }

  // Lane chains -> slice sum (xor butterfly: every lane ends with the same value).
#pragma unroll
  for (int m = 0; m < MR; ++m)
#pragma unroll
    for (int r = 0; r < RN; ++r) {
      float v = acc[m][r];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
      acc[m][r] = v;
    }
  if (ks == 1) {  // one slice: the warp stores its own outputs, spread over the lanes
#pragma unroll
    for (int m = 0; m < MR; ++m)
#pragma unroll
      for (int r = 0; r < RN; ++r)
        if ((m * RN + r) % 32 == lane) store_out(a, m0 + m, col0 + r, acc[m][r]);
    return;
  }
  if (lane == 0) {
#pragma unroll
    for (int m = 0; m < MR; ++m)
#pragma unroll
      for (int r = 0; r < RN; ++r) red[warp][m][r] = acc[m][r];
  }
  __syncthreads();
  const int outs = a.nw * MR * RN;
  for (int t = int(threadIdx.x); t < outs; t += int(blockDim.x)) {
    const int g = t / (MR * RN), m = (t / RN) % MR, r = t % RN;
    float v = red[g * ks][m][r];
    for (int s = 1; s < ks; ++s) v += red[g * ks + s][m][r];  // slice order
    store_out(a, m0 + m, (int64_t(blockIdx.y) * a.nw + g) * RN + r, v);
  }
}

}  // namespace dsv4::cuda::skinny
