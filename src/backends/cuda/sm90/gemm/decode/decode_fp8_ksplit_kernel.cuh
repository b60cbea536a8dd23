// The K-split mma-fp8-decode kernel for narrow FP8 linears (decode_fp8.h): one 8-column strip per
// CTA of W warps, so that a 1024-column weight still has 4·128 warps streaming it (one warp per SM
// cannot issue its loads and MMAs fast enough: bench/results, run 13). Device code only; included
// by decode_fp8.cu.
//
// The per-output arithmetic stays mma_gemm's: warp w computes the block partials p_kb (four
// chained mma.sync steps from 0, exactly as mma_gemm) of the K blocks kb with (kb / U) % W == w and
// parks them in shared memory; after one barrier, warp 0 folds acc = fma(p_kb, s_x · s_w, acc) in
// kb order — the same fp32 operations in the same order, so the outputs are bitwise the same.
//
// Shared memory: W rings of STAGES slots (A codes [AR][kLds], B codes [8][kLds]), then the partials
// P [KB][32] float4, the A scales [AR][KB + 1] and the weight-block scales [2][KB] (fp32).
#pragma once

#include "backends/cuda/sm90/gemm/decode/decode_fp8_kernel.cuh"

namespace dsv4::cuda::decode {

template <bool HALF>
struct KsplitShape {
  static constexpr int AR = HALF ? 8 : 16;
  static constexpr int SLOT = (AR + 8) * kLds;
  static size_t bytes(int W, int stages, int64_t KB) {
    return size_t(W) * stages * SLOT + size_t(KB) * 32 * 16 + size_t(AR) * size_t(KB + 1) * 4 + size_t(2 * KB) * 4;
  }
};

template <bool HALF, int STAGES, int U, int W>
__global__ void __launch_bounds__(32 * W) decode_fp8_ksplit(const Args a) {
  using S = KsplitShape<HALF>;
  constexpr int AR = S::AR, SLOT = S::SLOT;
  static_assert(STAGES % U == 0 && STAGES > U, "whole batches of U blocks");
  extern __shared__ __align__(16) uint8_t smem[];
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32, g = lane / 4, q = lane % 4;
  const int64_t K = a.K;
  const int KB = int(a.KB), KBp = KB + 1;
  const int64_t n0 = int64_t(blockIdx.x) * 8;
  const int Mv = a.M < AR ? a.M : AR;
  const int fv = a.N - n0 >= 8 ? 8 : int(a.N - n0);
  uint8_t* ring = smem + size_t(warp) * STAGES * SLOT;
  float4* P = reinterpret_cast<float4*>(smem + size_t(W) * STAGES * SLOT);
  float* sA = reinterpret_cast<float*>(P + size_t(KB) * 32);
  float* wsc = sA + AR * KBp;
  const int64_t brow = a.row0 + n0;

  // Zero what is never copied (this warp's slots): A rows >= Mv, B rows >= fv.
  for (int s = 0; s < STAGES; ++s) {
    uint8_t* slot = ring + s * SLOT;
    for (int c = lane; c < (AR - Mv) * (kLds / 16); c += 32)
      reinterpret_cast<uint4*>(slot + Mv * kLds)[c] = make_uint4(0, 0, 0, 0);
    for (int c = lane; c < (8 - fv) * (kLds / 16); c += 32)
      reinterpret_cast<uint4*>(slot + (AR + fv) * kLds)[c] = make_uint4(0, 0, 0, 0);
  }
  // This lane's copies: A chunks (rows < Mv), B chunks (rows < fv), at block 0.
  constexpr int kAPer = (AR * 8 + 31) / 32;
  const uint8_t* a_src[kAPer];
  uint32_t a_dst[kAPer];
#pragma unroll
  for (int t = 0; t < kAPer; ++t) {
    const int c = lane + 32 * t, r = c >> 3, part = c & 7;
    a_src[t] = c < Mv * 8 ? a.xq + int64_t(r) * K + part * 16 : nullptr;
    a_dst[t] = uint32_t(r * kLds + part * 16);
  }
  const uint8_t* b_src[2];
  uint32_t b_dst[2];
#pragma unroll
  for (int t = 0; t < 2; ++t) {
    const int c = lane + 32 * t, r = c >> 3, part = c & 7;
    b_src[t] = r < fv ? a.w + (brow + r) * K + part * 16 : nullptr;
    b_dst[t] = uint32_t((AR + r) * kLds + part * 16);
  }
  const uint32_t rbase = smem_addr(ring);
  // Block i of this warp's sequence: chunks of U consecutive blocks, every W-th chunk.
  auto kb_of = [&](int i) { return ((i / U) * W + warp) * U + i % U; };
  auto issue = [&](int i) {
    const int kb = kb_of(i);
    if (kb < KB) {
      const uint32_t so = rbase + uint32_t((i % STAGES) * SLOT);
      const int64_t k0 = int64_t(kb) * 128;
#pragma unroll
      for (int t = 0; t < kAPer; ++t) {
        if (a_src[t] == nullptr) continue;
        const bool in = k0 + (a_dst[t] % kLds) < K;
        cp_async16(so + a_dst[t], in ? a_src[t] + k0 : a_src[t], in ? 16 : 0);
      }
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        if (b_src[t] == nullptr) continue;
        const bool in = k0 + (b_dst[t] % kLds) < K;
        cp_async16(so + b_dst[t], in ? b_src[t] + k0 : b_src[t], in ? 16 : 0);
      }
    }
    cp_async_commit();
  };
#pragma unroll 1
  for (int i = 0; i < STAGES - U; ++i) issue(i);
  // Scales for the fold, once, by the whole CTA (overlapping the copies in flight).
  const int64_t rb0 = brow / 128, rb_last = (brow + (fv > 0 ? fv - 1 : 0)) / 128;
  for (int i = int(threadIdx.x); i < AR * KB; i += 32 * W) {
    const int r = i / KB, kb = i % KB;
    sA[r * KBp + kb] = r < Mv ? a.xs[int64_t(r) * KB + kb] : 0.0f;
  }
  for (int i = int(threadIdx.x); i < 2 * KB; i += 32 * W) {
    const int64_t rb = rb0 + i / KB;
    wsc[i] = (fv > 0 && rb <= rb_last) ? gemm::e8m0_value(a.ws[rb * KB + i % KB]) : 0.0f;
  }
  __syncwarp();

#pragma unroll 1
  for (int i0 = 0; kb_of(i0) < KB; i0 += U) {
#pragma unroll
    for (int u = 0; u < U; ++u) issue(i0 + STAGES - U + u);
    cp_async_wait<STAGES - U>();
    __syncwarp();
    float p[U][4];
#pragma unroll
    for (int u = 0; u < U; ++u) p[u][0] = p[u][1] = p[u][2] = p[u][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (kb_of(i0 + u) >= KB) break;  // warp-uniform
        const uint8_t* As = ring + ((i0 + u) % STAGES) * SLOT;
        const uint8_t* Bs = As + AR * kLds;
        const int kofs = ks * 32 + q * 4;
        uint32_t af[4], bf[2];
        load_a_frag<HALF>(As, g, kofs, af);
        bf[0] = *reinterpret_cast<const uint32_t*>(Bs + g * kLds + kofs);
        bf[1] = *reinterpret_cast<const uint32_t*>(Bs + g * kLds + kofs + 16);
        gemm::mma_e4m3(p[u], af, bf);
      }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kb = kb_of(i0 + u);
      if (kb >= KB) break;
      P[kb * 32 + lane] = make_float4(p[u][0], p[u][1], p[u][2], p[u][3]);
    }
    __syncwarp();  // these slots are refilled by the next iteration's issues
  }
  cp_async_wait<0>();
  __syncthreads();
  if (warp != 0) return;

  // The fold, in kb order (mma_gemm's: acc = fma(p, s_x · s_w, acc)).
  int wr[2];
#pragma unroll
  for (int c = 0; c < 2; ++c) {
    const int r = q * 2 + c;
    wr[c] = r < fv ? int((brow + r) / 128 - rb0) : -1;
  }
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 4
  for (int kb = 0; kb < KB; ++kb) {
    const float4 pv = P[kb * 32 + lane];
    const float s0 = sA[g * KBp + kb], s1 = HALF ? 0.0f : sA[(g + 8) * KBp + kb];
    const float w0 = wr[0] >= 0 ? wsc[wr[0] * KB + kb] : 0.0f;
    const float w1 = wr[1] >= 0 ? wsc[wr[1] * KB + kb] : 0.0f;
    acc[0] = fmaf(pv.x, s0 * w0, acc[0]);
    acc[1] = fmaf(pv.y, s0 * w1, acc[1]);
    acc[2] = fmaf(pv.z, s1 * w0, acc[2]);
    acc[3] = fmaf(pv.w, s1 * w1, acc[3]);
  }
#pragma unroll
  for (int h = 0; h < (HALF ? 1 : 2); ++h) {
    const int r = g + h * 8;
    if (r >= a.M) continue;
    float* yrow = a.y + int64_t(r) * a.ldy;
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int64_t col = n0 + q * 2 + c;
      if (col < a.N) {
        const float v = a.alpha * acc[h * 2 + c];
        yrow[col] = a.accumulate ? yrow[col] + v : v;
      }
    }
  }
}

}  // namespace dsv4::cuda::decode
