// The GEMM kernels shared by linear (linear.cu) and the routed experts (moe/moe_routed.cu).
// Device code only; included by those two translation units.
//
// Two kernels, both computing y[r, n] = Σ_k A[r, k] · W[n, k] over one tile of BM rows x BN columns:
//  * simt_gemm (exact numerics, and NVFP4 activations): fp32 A (optionally NVFP4 quant-dequantized
//    in the tile load), W decoded exactly to fp32 in shared memory, one fp32 FMA chain per output in
//    k order 0..K-1.
//  * mma_gemm (official FP8 numerics): A quantized in the tile load to e4m3 with power-of-two 1x128
//    scales (§9.1, bit-exact to the CPU), W e4m3 (FP8Block) or e2m1 re-encoded to e4m3 (MXFP4,
//    exact), mma.sync m16n8k32 e4m3 x e4m3 -> fp32; per 128-wide K block (FP8Block) or per 32-wide
//    K block (MXFP4) the partial sum is scaled by s_a[row] · s_w[col] and added to the fp32 accumulator
//    (spec §9.1 fp8_gemm / fp4_gemm).
// Batch invariance: every output element is computed by the same instruction sequence whatever the
// tile shape (BM/BN variants only change which thread computes it), so a row's result does not
// depend on M, on the other rows, or on the tile configuration.
#pragma once

#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/sm90/gemm/gemm_codec.h"
#include "backends/cuda/sm90/gemm/mma_e4m3.cuh"

namespace dsv4::cuda::gemm {

enum WFmt : int { kF32 = 0, kBF16 = 1, kFP8 = 2, kMXFP4 = 3, kNVFP4 = 4 };
enum Act : int { kActNone = 0, kActFp8 = 1, kActNvfp4 = 2 };
enum Epi : int { kEpiStore = 0, kEpiSwiglu = 1 };

// One weight matrix in device memory (rows of K elements in the format's layout).
struct WMat {
  const uint8_t* w = nullptr;
  const uint8_t* s = nullptr;
  float global_scale = 1.0f;  // NVFP4 weight_scale_2
  float input_scale = 1.0f;   // NVFP4 activation scale
};

// One routed expert: w1, w3 [I, d], w2 [d, I].
struct ExpertEntry {
  WMat w1, w3, w2;
};

struct GemmArgs {
  // A: fp32 rows ldx apart.
  const float* x = nullptr;
  int64_t ldx = 0;
  const int32_t* a_rows = nullptr;  // MoE gate-up: tile row -> x row (null: identity)
  int64_t M = 0;                    // linear: rows
  // MoE schedule (null: linear; blockIdx.y = M tile, blockIdx.z = group)
  const int32_t* tiles = nullptr;   // [max_tiles][3] {expert, row0, rows}
  const int32_t* tile_count = nullptr;
  const ExpertEntry* experts = nullptr;
  int which = 0;                    // 0: w1/w3 (SwiGLU epilogue), 2: w2
  // B
  WMat w;                           // linear
  int64_t K = 0;                    // weight row length (= A columns used)
  int64_t N = 0;                    // output columns (per group; SwiGLU: I)
  int64_t row0 = 0;                 // linear: first weight row
  int64_t gx = 0, gw = 0, gy = 0;   // per group: x column offset, W row offset, y column offset
  // output
  float* y = nullptr;
  int64_t ldy = 0;
  float alpha = 1.0f;
  int accumulate = 0;
  const float* row_weight = nullptr;  // SwiGLU: per output row (MoE permuted row), may be null
  float limit = 0.0f;                 // SwiGLU clamp (<= 0: none)
  int vec = 0;                        // simt: 1 when W rows are 16-byte aligned and K % 32 == 0
  // mma: the pre-quantized A (act_quant_fp8_kernel): codes [rows, K], scales [rows, ceil(K/128)]
  const uint8_t* xq = nullptr;
  const float* xs = nullptr;
};

struct Tile {
  const float* x;       // A base (row r at x + arow(r) * ldx)
  float* y;             // output base (row r at y + r * ldy)
  int64_t r0;           // MoE: first permuted row
  int rows;
  WMat b0, b1;          // B matrices (b1: w3 for SwiGLU)
  int64_t wrow0;        // weight row of tile column 0 (Store)
};

__device__ __forceinline__ bool resolve_tile(const GemmArgs& a, int BM, Tile* t) {
  if (a.tiles == nullptr) {
    const int64_t m0 = int64_t(blockIdx.y) * BM;
    if (m0 >= a.M) return false;
    t->rows = int(a.M - m0 < BM ? a.M - m0 : BM);
    t->x = a.x + blockIdx.z * a.gx + m0 * a.ldx;
    t->y = a.y + blockIdx.z * a.gy + m0 * a.ldy;
    t->r0 = m0;
    t->b0 = a.w;
    t->b1 = a.w;
    t->wrow0 = a.row0 + blockIdx.z * a.gw;
    return true;
  }
  if (int(blockIdx.y) >= *a.tile_count) return false;
  const int32_t* ti = a.tiles + 3 * blockIdx.y;
  const ExpertEntry& e = a.experts[ti[0]];
  t->r0 = ti[1];
  t->rows = ti[2];
  t->x = a.x;
  t->y = a.y + t->r0 * a.ldy;
  t->b0 = a.which == 0 ? e.w1 : e.w2;
  t->b1 = e.w3;
  t->wrow0 = 0;
  return true;
}

__device__ __forceinline__ const float* a_row_ptr(const GemmArgs& a, const Tile& t, int r) {
  if (r >= t.rows) return nullptr;
  if (a.tiles == nullptr) return t.x + int64_t(r) * a.ldx;
  const int64_t row = a.a_rows != nullptr ? a.a_rows[t.r0 + r] : t.r0 + r;
  return t.x + row * a.ldx;
}

__device__ __forceinline__ float swiglu_value(float g, float u, float limit, float rw) {
  if (limit > 0.0f) {
    g = fminf(g, limit);
    u = fminf(fmaxf(u, -limit), limit);
  }
  return g / (1.0f + expf(-g)) * u * rw;
}

// NVFP4 quant-dequant of one element (core/quant.h quant_dequant_nvfp4) given its block's amax.
__device__ __forceinline__ float nvfp4_qdq(float x, float amax, float input_scale) {
  const float inv_global = 1.0f / input_scale;
  const float sf = float(__nv_fp8_e4m3(amax * (1.0f / 6.0f) * inv_global));  // RNE, satfinite
  if (!(sf > 0.0f)) return sf != sf ? sf : 0.0f;
  const float step = sf * input_scale;
  return e2m1_code_value(f32_to_e2m1_code(x / step)) * step;  // the encoder saturates at ±6 (the clamp)
}

// ---------------------------------------------------------------- weight decode (exact, fp32)

template <int WF>
__device__ __forceinline__ float decode_w(const WMat& m, int64_t row, int64_t k, int64_t K) {
  if constexpr (WF == kF32) {
    return reinterpret_cast<const float*>(m.w)[row * K + k];
  } else if constexpr (WF == kBF16) {
    return bits_to_f32(uint32_t(reinterpret_cast<const uint16_t*>(m.w)[row * K + k]) << 16);
  } else if constexpr (WF == kFP8) {
    const int64_t kb = (K + 127) / 128;
    const float s = e8m0_value(m.s[(row / 128) * kb + k / 128]);
    return float(*reinterpret_cast<const __nv_fp8_e4m3*>(m.w + row * K + k)) * s;
  } else if constexpr (WF == kMXFP4) {
    const uint8_t b = m.w[row * (K / 2) + k / 2];
    const float s = e8m0_value(m.s[row * (K / 32) + k / 32]);
    return e2m1_code_value((k & 1) ? (b >> 4) : (b & 0xF)) * s;
  } else {  // NVFP4
    const uint8_t b = m.w[row * (K / 2) + k / 2];
    const float s = float(*reinterpret_cast<const __nv_fp8_e4m3*>(m.s + row * (K / 16) + k / 16)) * m.global_scale;
    return e2m1_code_value((k & 1) ? (b >> 4) : (b & 0xF)) * s;
  }
}

// Eight consecutive weights W[row, k .. k+8) (k % 8 == 0, K % 32 == 0, 16-byte aligned rows).
template <int WF>
__device__ __forceinline__ void decode_w8(const WMat& m, int64_t row, int64_t k, int64_t K, float out[8]) {
  if constexpr (WF == kF32) {
    const float4* p = reinterpret_cast<const float4*>(reinterpret_cast<const float*>(m.w) + row * K + k);
    const float4 a = p[0], b = p[1];
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
  } else if constexpr (WF == kBF16) {
    const uint4 v = *reinterpret_cast<const uint4*>(reinterpret_cast<const uint16_t*>(m.w) + row * K + k);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = bits_to_f32(w[i] << 16);
      out[2 * i + 1] = bits_to_f32(w[i] & 0xFFFF0000u);
    }
  } else if constexpr (WF == kFP8) {
    const uint2 v = *reinterpret_cast<const uint2*>(m.w + row * K + k);
    const float s = e8m0_value(m.s[(row / 128) * ((K + 127) / 128) + k / 128]);
    const uint32_t w[2] = {v.x, v.y};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      __nv_fp8_e4m3 q;
      q.__x = uint8_t(w[i / 4] >> (8 * (i % 4)));
      out[i] = float(q) * s;
    }
  } else {
    const uint32_t v = *reinterpret_cast<const uint32_t*>(m.w + row * (K / 2) + k / 2);
    float s;
    if constexpr (WF == kMXFP4)
      s = e8m0_value(m.s[row * (K / 32) + k / 32]);
    else
      s = float(*reinterpret_cast<const __nv_fp8_e4m3*>(m.s + row * (K / 16) + k / 16)) * m.global_scale;
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = e2m1_code_value(v >> (4 * i)) * s;
  }
}

// ---------------------------------------------------------------- SIMT fp32 kernel

constexpr int kSimtBM = 32, kSimtBN = 64, kSimtBK = 64, kSimtThreads = 256;

template <int WF, int ACT, int EPI>
__global__ void __launch_bounds__(kSimtThreads) simt_gemm(const GemmArgs a) {
  constexpr int BM = kSimtBM, BN = kSimtBN, BK = kSimtBK;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  Tile t;
  if (!resolve_tile(a, BM, &t)) return;
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  const int64_t K = a.K;

  // A load: row ar, k offset ak (8 elements); B load: tile column bn, k offset bk (16 elements).
  const int ar = tid / 8, ak = (tid % 8) * 8;
  const int bn = tid / 4, bk = (tid % 4) * 16;
  const float* arow = a_row_ptr(a, t, ar);
  WMat bm = t.b0;
  int64_t brow;
  bool bvalid;
  if constexpr (EPI == kEpiSwiglu) {
    const int64_t hcol = int64_t(blockIdx.x) * (BN / 2) + (bn / 4) * 2 + (bn % 2);
    if ((bn % 4) >= 2) bm = t.b1;
    brow = hcol;
    bvalid = hcol < a.N;
  } else {
    const int64_t col = int64_t(blockIdx.x) * BN + bn;
    brow = t.wrow0 + col;
    bvalid = col < a.N;
  }

  float acc[2][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    float av[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t k = k0 + ak + i;
      av[i] = (arow != nullptr && k < K) ? arow[k] : 0.0f;
    }
    if constexpr (ACT == kActNvfp4) {  // 16-blocks: lanes (2q, 2q+1) hold one block
      float m = 0.0f;
#pragma unroll
      for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(av[i]));
      m = fmaxf(m, __shfl_xor_sync(0xFFFFFFFFu, m, 1));
      const float is = t.b0.input_scale;
#pragma unroll
      for (int i = 0; i < 8; ++i) av[i] = nvfp4_qdq(av[i], m, is);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) As[ak + i][ar] = av[i];
    float bv[16];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t kh = k0 + bk + 8 * h;
      if (bvalid && a.vec && kh + 8 <= K) {
        decode_w8<WF>(bm, brow, kh, K, bv + 8 * h);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const int64_t k = kh + i;
          bv[8 * h + i] = (bvalid && k < K) ? decode_w<WF>(bm, brow, k, K) : 0.0f;
        }
      }
    }
#pragma unroll
    for (int i = 0; i < 16; ++i) Bs[bk + i][bn] = bv[i];
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < BK; ++kk) {
      const float a0 = As[kk][ty * 2], a1 = As[kk][ty * 2 + 1];
      const float4 b = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
      acc[0][0] = fmaf(a0, b.x, acc[0][0]);
      acc[0][1] = fmaf(a0, b.y, acc[0][1]);
      acc[0][2] = fmaf(a0, b.z, acc[0][2]);
      acc[0][3] = fmaf(a0, b.w, acc[0][3]);
      acc[1][0] = fmaf(a1, b.x, acc[1][0]);
      acc[1][1] = fmaf(a1, b.y, acc[1][1]);
      acc[1][2] = fmaf(a1, b.z, acc[1][2]);
      acc[1][3] = fmaf(a1, b.w, acc[1][3]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = ty * 2 + i;
    if (r >= t.rows) continue;
    float* yrow = t.y + int64_t(r) * a.ldy;
    if constexpr (EPI == kEpiSwiglu) {
      const float rw = a.row_weight != nullptr ? a.row_weight[t.r0 + r] : 1.0f;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int64_t hcol = int64_t(blockIdx.x) * (BN / 2) + tx * 2 + j;
        if (hcol < a.N) yrow[hcol] = swiglu_value(acc[i][j], acc[i][2 + j], a.limit, rw);
      }
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t col = int64_t(blockIdx.x) * BN + tx * 4 + j;
        if (col < a.N) {
          const float v = a.alpha * acc[i][j];
          yrow[col] = a.accumulate ? yrow[col] + v : v;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- FP8 mma.sync kernel

// mma_e4m3: mma_e4m3.cuh (shared with the decode kernel, decode_fp8_kernel.cuh).

// Four fp32 -> four e4m3 bytes (RNE, saturating to ±448: the CPU's clamp-then-round).
__device__ __forceinline__ uint32_t e4m3x4(float a, float b, float c, float d) {
  const __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return uint32_t(lo) | (uint32_t(hi) << 16);
}

// A operand of mma_gemm: e4m3 codes [rows, K] and fp32 power-of-two scales [rows, ceil(K/128)],
// written by act_quant_fp8_kernel (bit-exact §9.1) before the GEMM.
__device__ __forceinline__ int64_t a_row_index(const GemmArgs& a, const Tile& t, int r) {
  if (r >= t.rows) return -1;
  if (a.tiles == nullptr) return t.r0 + r;
  return a.a_rows != nullptr ? int64_t(a.a_rows[t.r0 + r]) : t.r0 + r;
}

// KBLK 128-wide K blocks per shared-memory fill (more bytes in flight for the small decode tile).
// Per output element the arithmetic is the same for every (tile, KBLK) configuration: blocks in
// order kb = 0, 1, ...; FP8Block: p = Σ_ks mma (k32 steps chained), acc = fma(p, s_a·s_w, acc);
// MXFP4: per k32 step p = mma from 0, acc = fma(p, s_a·s_w32, acc).
template <int WF, int WM, int WN, int FM, int FN, int KBLK, int EPI>
__global__ void __launch_bounds__(128) mma_gemm(const GemmArgs a) {
  constexpr int BM = WM * 16 * FM, BN = WN * 8 * FN, BKB = 128 * KBLK, LDS = BKB + 16;
  static_assert(WM * WN == 4, "four warps");
  static_assert(EPI != kEpiSwiglu || FN % 2 == 0, "SwiGLU pairs w1/w3 fragments");
  __shared__ __align__(16) uint8_t As[BM * LDS];
  __shared__ __align__(16) uint8_t Bs[BN * LDS];
  __shared__ float sx[BM][KBLK];
  __shared__ float sw[BN][4 * KBLK];
  __shared__ const uint8_t* aq[BM];
  __shared__ const float* as_[BM];
  __shared__ const uint8_t* bq[BN];
  __shared__ const uint8_t* bs[BN];
  Tile t;
  if (!resolve_tile(a, BM, &t)) return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int wm = warp / WN, wn = warp % WN;
  const int64_t K = a.K, KB = (K + 127) / 128;

  for (int r = tid; r < BM; r += 128) {
    const int64_t row = a_row_index(a, t, r);
    aq[r] = row >= 0 ? a.xq + row * K : nullptr;
    as_[r] = row >= 0 ? a.xs + row * KB : nullptr;
  }
  for (int n = tid; n < BN; n += 128) {
    WMat m = t.b0;
    int64_t row;
    bool valid;
    if constexpr (EPI == kEpiSwiglu) {
      const int wn_ = n / (8 * FN), within = n % (8 * FN), f = within / 8;
      if (f >= FN / 2) m = t.b1;
      row = int64_t(blockIdx.x) * (BN / 2) + wn_ * 4 * FN + (f % (FN / 2)) * 8 + within % 8;
      valid = row < a.N;
    } else {
      const int64_t col = int64_t(blockIdx.x) * BN + n;
      row = t.wrow0 + col;
      valid = col < a.N;
    }
    if (!valid) {
      bq[n] = nullptr;
      bs[n] = nullptr;
    } else if constexpr (WF == kFP8) {
      bq[n] = m.w + row * K;
      bs[n] = m.s + (row / 128) * KB;
    } else {
      bq[n] = m.w + row * (K / 2);
      bs[n] = m.s + row * (K / 32);
    }
  }

  float acc[FM][FN][4];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;
  __syncthreads();

  for (int64_t kb0 = 0; kb0 < KB; kb0 += KBLK) {
    const int64_t kbase = kb0 * 128;
    // A codes and scales
    constexpr int kAChunks = BM * (BKB / 16);
#pragma unroll
    for (int c0 = 0; c0 < kAChunks; c0 += 128) {
      const int c = c0 + tid;
      if (kAChunks % 128 == 0 || c < kAChunks) {
        const int r = c / (BKB / 16), part = c % (BKB / 16);
        const int64_t k = kbase + part * 16;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (aq[r] != nullptr && k < K) v = *reinterpret_cast<const uint4*>(aq[r] + k);
        *reinterpret_cast<uint4*>(&As[r * LDS + part * 16]) = v;
      }
    }
    for (int c = tid; c < BM * KBLK; c += 128) {
      const int r = c / KBLK, j = c % KBLK;
      sx[r][j] = (as_[r] != nullptr && kb0 + j < KB) ? as_[r][kb0 + j] : 0.0f;
    }
    // B
    if constexpr (WF == kFP8) {
      constexpr int kBChunks = BN * (BKB / 16);
#pragma unroll
      for (int c0 = 0; c0 < kBChunks; c0 += 128) {
        const int c = c0 + tid;
        const int n = c / (BKB / 16), part = c % (BKB / 16);
        const int64_t k = kbase + part * 16;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (bq[n] != nullptr && k < K) v = *reinterpret_cast<const uint4*>(bq[n] + k);
        *reinterpret_cast<uint4*>(&Bs[n * LDS + part * 16]) = v;
      }
      for (int c = tid; c < BN * KBLK; c += 128) {
        const int n = c / KBLK, j = c % KBLK;
        sw[n][4 * j] = (bs[n] != nullptr && kb0 + j < KB) ? e8m0_value(bs[n][kb0 + j]) : 0.0f;
      }
    } else {  // MXFP4: 16 packed bytes -> 32 e4m3 per chunk, one scale per chunk
      constexpr int kBChunks = BN * (BKB / 32);
#pragma unroll
      for (int c0 = 0; c0 < kBChunks; c0 += 128) {
        const int c = c0 + tid;
        const int n = c / (BKB / 32), part = c % (BKB / 32);
        const int64_t k = kbase + part * 32;
        const bool ok = bq[n] != nullptr && k < K;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (ok) v = *reinterpret_cast<const uint4*>(bq[n] + k / 2);
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
        uint32_t o[8];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          o[2 * i] = e2m1x4_to_e4m3x4(w[i] & 0xFFFFu);
          o[2 * i + 1] = e2m1x4_to_e4m3x4(w[i] >> 16);
        }
        uint4* dst = reinterpret_cast<uint4*>(&Bs[n * LDS + part * 32]);
        dst[0] = make_uint4(o[0], o[1], o[2], o[3]);
        dst[1] = make_uint4(o[4], o[5], o[6], o[7]);
        sw[n][part] = ok ? e8m0_value(bs[n][k / 32]) : 0.0f;
      }
    }
    __syncthreads();

#pragma unroll
    for (int jb = 0; jb < KBLK; ++jb) {
      if (kb0 + jb >= KB) break;  // uniform: no phantom blocks (keeps -0/+0 identical across configs)
      float p[FM][FN][4];
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j)
#pragma unroll
          for (int c = 0; c < 4; ++c) p[i][j][c] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) {
        uint32_t af[FM][4], bf[FN][2];
        const int kofs = jb * 128 + ks * 32 + (lane % 4) * 4;
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          const int r = wm * 16 * FM + i * 16 + lane / 4;
          af[i][0] = *reinterpret_cast<const uint32_t*>(&As[r * LDS + kofs]);
          af[i][1] = *reinterpret_cast<const uint32_t*>(&As[(r + 8) * LDS + kofs]);
          af[i][2] = *reinterpret_cast<const uint32_t*>(&As[r * LDS + kofs + 16]);
          af[i][3] = *reinterpret_cast<const uint32_t*>(&As[(r + 8) * LDS + kofs + 16]);
        }
#pragma unroll
        for (int j = 0; j < FN; ++j) {
          const int n = wn * 8 * FN + j * 8 + lane / 4;
          bf[j][0] = *reinterpret_cast<const uint32_t*>(&Bs[n * LDS + kofs]);
          bf[j][1] = *reinterpret_cast<const uint32_t*>(&Bs[n * LDS + kofs + 16]);
        }
#pragma unroll
        for (int i = 0; i < FM; ++i)
#pragma unroll
          for (int j = 0; j < FN; ++j) mma_e4m3(p[i][j], af[i], bf[j]);
        if constexpr (WF == kMXFP4) {  // per 32-wide block: acc += partial · s_a · s_w
#pragma unroll
          for (int i = 0; i < FM; ++i) {
            const int r = wm * 16 * FM + i * 16 + lane / 4;
            const float s0 = sx[r][jb], s1 = sx[r + 8][jb];
#pragma unroll
            for (int j = 0; j < FN; ++j) {
              const int n = wn * 8 * FN + j * 8 + (lane % 4) * 2;
              const float w0 = sw[n][4 * jb + ks], w1 = sw[n + 1][4 * jb + ks];
              acc[i][j][0] = fmaf(p[i][j][0], s0 * w0, acc[i][j][0]);
              acc[i][j][1] = fmaf(p[i][j][1], s0 * w1, acc[i][j][1]);
              acc[i][j][2] = fmaf(p[i][j][2], s1 * w0, acc[i][j][2]);
              acc[i][j][3] = fmaf(p[i][j][3], s1 * w1, acc[i][j][3]);
              p[i][j][0] = p[i][j][1] = p[i][j][2] = p[i][j][3] = 0.0f;
            }
          }
        }
      }
      if constexpr (WF == kFP8) {  // per 128-wide block
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          const int r = wm * 16 * FM + i * 16 + lane / 4;
          const float s0 = sx[r][jb], s1 = sx[r + 8][jb];
#pragma unroll
          for (int j = 0; j < FN; ++j) {
            const int n = wn * 8 * FN + j * 8 + (lane % 4) * 2;
            const float w0 = sw[n][4 * jb], w1 = sw[n + 1][4 * jb];
            acc[i][j][0] = fmaf(p[i][j][0], s0 * w0, acc[i][j][0]);
            acc[i][j][1] = fmaf(p[i][j][1], s0 * w1, acc[i][j][1]);
            acc[i][j][2] = fmaf(p[i][j][2], s1 * w0, acc[i][j][2]);
            acc[i][j][3] = fmaf(p[i][j][3], s1 * w1, acc[i][j][3]);
          }
        }
      }
    }
    __syncthreads();
  }

  // Epilogue from registers.
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = wm * 16 * FM + i * 16 + lane / 4 + h * 8;
      if (r >= t.rows) continue;
      float* yrow = t.y + int64_t(r) * a.ldy;
      if constexpr (EPI == kEpiSwiglu) {
        const float rw = a.row_weight != nullptr ? a.row_weight[t.r0 + r] : 1.0f;
#pragma unroll
        for (int j = 0; j < FN / 2; ++j)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int64_t hcol = int64_t(blockIdx.x) * (BN / 2) + wn * 4 * FN + j * 8 + (lane % 4) * 2 + c;
            if (hcol < a.N) yrow[hcol] = swiglu_value(acc[i][j][h * 2 + c], acc[i][j + FN / 2][h * 2 + c], a.limit, rw);
          }
      } else {
#pragma unroll
        for (int j = 0; j < FN; ++j)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int64_t col = int64_t(blockIdx.x) * BN + wn * 8 * FN + j * 8 + (lane % 4) * 2 + c;
            if (col < a.N) {
              const float v = a.alpha * acc[i][j][h * 2 + c];
              yrow[col] = a.accumulate ? yrow[col] + v : v;
            }
          }
      }
    }
}

// §9.1 activation quantization: q[m, k] e4m3, scale[m, kb] fp32 (power of two). One warp per
// (row, 128-block). Bit-exact to core/quant.h quantize_fp8_blocks (tested).
template <int kUnused = 0>
__global__ void __launch_bounds__(128) act_quant_fp8_kernel(const float* x, int64_t M, int64_t ldx, int64_t K,
                                                             uint8_t* q, float* scale) {
  const int64_t KB = (K + 127) / 128;
  const int64_t item = int64_t(blockIdx.x) * 4 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (item >= M * KB) return;
  const int64_t m = item / KB, kb = item % KB;
  float v[4];
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t k = kb * 128 + lane * 4 + i;
    v[i] = k < K ? x[m * ldx + k] : 0.0f;
    amax = fmaxf(amax, fabsf(v[i]));
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float s = fp8_act_scale(amax);
  const uint32_t w = e4m3x4(v[0] / s, v[1] / s, v[2] / s, v[3] / s);
  if (K % 4 == 0 && kb * 128 + lane * 4 + 3 < K) {
    *reinterpret_cast<uint32_t*>(q + m * K + kb * 128 + lane * 4) = w;  // K % 4 == 0 here
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t k = kb * 128 + lane * 4 + i;
      if (k < K) q[m * K + k] = uint8_t(w >> (8 * i));
    }
  }
  if (lane == 0) scale[m * KB + kb] = s;
}

}  // namespace dsv4::cuda::gemm
