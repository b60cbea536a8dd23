// The mma-fp8-decode kernel (decode_fp8.h states what it computes and why its outputs equal
// mma_gemm's bitwise). Device code only; included by decode_fp8.cu.
//
// CTA = one warp = 8·FN output columns for all the rows of its row tile (linear: all M rows; MoE:
// one tile {expert, first permuted row, rows} of the permutation's list). Shared memory: STAGES
// slots, each one 128-wide K block: A codes [AR][kLds], B codes [BR][kLds] (MXFP4: the 64 packed
// bytes of the block), A scales [AR] fp32, MXFP4: B scales [BR][4] e8m0 bytes; behind the slots
// the FP8 weight-block scales of the warp's fragments as fp32 [FN][2][KB] (a fragment of 8 rows
// spans at most two 128-row scale blocks) and the A row indices [AR]. Rows of A past the tile and
// of B past N are zero in every slot and never copied.
//
// Weight formats (WF, as gemm_core.cuh): kFP8 — per block p = Σ_ks mma, acc = fma(p, s_a·s_w, acc);
// kMXFP4 — the e2m1 codes are re-encoded to e4m3 in the fragment load (the same exact map as
// mma_gemm's tile fill), per 32-wide step p = mma from 0, acc = fma(p, s_a·s_w32, acc).
// Epilogues (EPI): kEpiStore — y = alpha·acc (+ y); kEpiSwiglu (FN = 2, MoE w1|w3) — fragment 0
// holds w1 rows, fragment 1 the same w3 rows, h = swiglu(acc0, acc1; limit) · routing weight.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/sm90/gemm/gemm_core.cuh"

namespace dsv4::cuda::decode {

struct Args {
  // A: e4m3 codes and fp32 scales, row i at xq + i·K, xs + i·KB
  const uint8_t* xq = nullptr;
  const float* xs = nullptr;
  int M = 0;                               // linear: rows
  const int32_t* a_rows = nullptr;         // MoE w1|w3: permuted row -> A row (null: identity)
  // MoE schedule (null: linear; blockIdx.y = tile)
  const int32_t* tiles = nullptr;          // [max_tiles][3] {expert, first row, rows}
  const int32_t* tile_count = nullptr;
  const gemm::ExpertEntry* experts = nullptr;
  int which = 0;                           // 0: w1|w3, 2: w2
  // B (linear)
  const uint8_t* w = nullptr;
  const uint8_t* ws = nullptr;
  int64_t K = 0, KB = 0;
  int64_t row0 = 0, N = 0;
  // output
  float* y = nullptr;
  int64_t ldy = 0;
  float alpha = 1.0f;
  int accumulate = 0;
  const float* row_weight = nullptr;       // SwiGLU: per permuted row (null: 1)
  float limit = 0.0f;
};

constexpr int kLds = 144;  // bytes per shared row: 128 + 16 (the fragment reads hit 32 banks)

template <int WF, int FM, bool HALF, int FN>
struct Shape {
  static constexpr int AR = HALF ? 8 : 16 * FM;  // A rows held
  static constexpr int BR = 8 * FN;              // B rows (output columns) per warp
  static constexpr int BSC = WF == gemm::kMXFP4 ? BR * 4 : 0;  // MXFP4 scale bytes per slot
  static constexpr int SLOT = (AR + BR) * kLds + AR * 4 + BSC;
  // behind the slots: FP8 weight scales [FN][2][KB] fp32, then A row indices [AR]
  static size_t bytes(int stages, int64_t KB) {
    return size_t(stages) * SLOT + (WF == gemm::kFP8 ? size_t(FN) * 2 * size_t(KB) * 4 : 0) + size_t(AR) * 4;
  }
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

// 16 bytes global -> shared, L2 only; src_bytes 0 writes zeros.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

template <int WF, int EPI, int FM, bool HALF, int FN, int STAGES>
__global__ void __launch_bounds__(32) decode_fp8_gemm(const Args a) {
  using S = Shape<WF, FM, HALF, FN>;
  constexpr int AR = S::AR, BR = S::BR, SLOT = S::SLOT;
  constexpr bool kFp4 = WF == gemm::kMXFP4;
  constexpr int kBChunks = kFp4 ? 4 : 8;  // 16-byte chunks of one B row per K block
  static_assert(!HALF || FM == 1, "half tiles hold one 16-row fragment");
  static_assert(EPI != gemm::kEpiSwiglu || FN == 2, "SwiGLU pairs one w1 and one w3 fragment");
  static_assert(WF == gemm::kFP8 || WF == gemm::kMXFP4, "FP8 or MXFP4 weights");
  extern __shared__ __align__(16) uint8_t smem[];
  const int lane = int(threadIdx.x), g = lane / 4, q = lane % 4;
  const int64_t K = a.K, KB = a.KB;

  // The row tile and the B matrices of this CTA.
  int64_t r0 = 0;
  int rows = a.M;
  const uint8_t* bw[FN];  // fragment j: first weight row's codes
  const uint8_t* bsc[FN]; // fragment j: its matrix's scales
  int64_t brow[FN];       // fragment j: first weight row index (scale row)
  int64_t n0;             // first output column
  if (a.tiles != nullptr) {
    if (int(blockIdx.y) >= *a.tile_count) return;
    const int32_t* ti = a.tiles + 3 * blockIdx.y;
    const gemm::ExpertEntry& e = a.experts[ti[0]];
    r0 = ti[1];
    rows = ti[2];
    if constexpr (EPI == gemm::kEpiSwiglu) {
      n0 = int64_t(blockIdx.x) * 8;
      const gemm::WMat m[2] = {e.w1, e.w3};
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        brow[j] = n0;
        bsc[j] = m[j].s;
        bw[j] = m[j].w;
      }
    } else {
      n0 = int64_t(blockIdx.x) * BR;
      const gemm::WMat m = a.which == 0 ? e.w1 : e.w2;
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        brow[j] = n0 + 8 * j;
        bsc[j] = m.s;
        bw[j] = m.w;
      }
    }
  } else {
    n0 = int64_t(blockIdx.x) * BR;
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      brow[j] = a.row0 + n0 + 8 * j;
      bsc[j] = a.ws;
      bw[j] = a.w;
    }
  }
  const int Mv = rows < AR ? rows : AR;
  // valid rows of fragment j (columns of the output)
  int fv[FN];
#pragma unroll
  for (int j = 0; j < FN; ++j) {
    const int64_t c0 = EPI == gemm::kEpiSwiglu ? n0 : n0 + 8 * j;
    const int64_t left = a.N - c0;
    fv[j] = left <= 0 ? 0 : left < 8 ? int(left) : 8;
  }

  float* wsc = reinterpret_cast<float*>(smem + size_t(STAGES) * SLOT);        // FP8: [FN][2][KB]
  int32_t* arow = reinterpret_cast<int32_t*>(wsc + (kFp4 ? 0 : FN * 2 * KB));  // [AR]
  for (int r = lane; r < AR; r += 32)
    arow[r] = r < Mv ? (a.a_rows != nullptr ? a.a_rows[r0 + r] : int32_t(r0 + r)) : 0;

  // Zero what is never copied: A rows >= Mv (and their scales), B rows past N (and their scales).
  for (int s = 0; s < STAGES; ++s) {
    uint8_t* slot = smem + size_t(s) * SLOT;
    for (int c = lane; c < (AR - Mv) * (kLds / 16); c += 32)
      reinterpret_cast<uint4*>(slot + Mv * kLds)[c] = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int j = 0; j < FN; ++j)
      for (int c = lane; c < (8 - fv[j]) * (kLds / 16); c += 32)
        reinterpret_cast<uint4*>(slot + (AR + 8 * j + fv[j]) * kLds)[c] = make_uint4(0, 0, 0, 0);
    for (int r = Mv + lane; r < AR; r += 32) reinterpret_cast<float*>(slot + (AR + BR) * kLds)[r] = 0.0f;
    if constexpr (kFp4) {
      uint32_t* bs = reinterpret_cast<uint32_t*>(slot + (AR + BR) * kLds + AR * 4);
#pragma unroll
      for (int j = 0; j < FN; ++j)
        for (int r = fv[j] + lane; r < 8; r += 32) bs[8 * j + r] = 0u;
    }
  }
  __syncwarp();

  const int64_t brow_bytes = kFp4 ? K / 2 : K;  // bytes per weight row
  auto issue = [&](int64_t kb) {
    if (kb < KB) {
      const uint32_t sa = smem_addr(smem + size_t(kb % STAGES) * SLOT), sb = sa + AR * kLds, ss = sb + BR * kLds,
                     sbs = ss + AR * 4;
      const int64_t k0 = kb * 128;
      for (int c = lane; c < Mv * 8; c += 32) {
        const int r = c >> 3, part = c & 7;
        const int64_t k = k0 + part * 16;
        const bool in = k < K;
        cp_async16(sa + r * kLds + part * 16, a.xq + int64_t(arow[r]) * K + (in ? k : 0), in ? 16 : 0);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j)
        for (int c = lane; c < fv[j] * kBChunks; c += 32) {
          const int r = c / kBChunks, part = c % kBChunks;
          const int64_t kbyte = (kFp4 ? k0 / 2 : k0) + part * 16;
          const bool in = kbyte < brow_bytes;
          cp_async16(sb + (8 * j + r) * kLds + part * 16, bw[j] + (brow[j] + r) * brow_bytes + (in ? kbyte : 0),
                     in ? 16 : 0);
        }
      for (int r = lane; r < Mv; r += 32) cp_async4(ss + r * 4, a.xs + int64_t(arow[r]) * KB + kb);
      if constexpr (kFp4) {  // the four 1x32 scales of each weight row for this block (K % 128 == 0)
#pragma unroll
        for (int j = 0; j < FN; ++j)
          for (int r = lane; r < fv[j]; r += 32) cp_async4(sbs + (8 * j + r) * 4, bsc[j] + (brow[j] + r) * (K / 32) + kb * 4);
      }
    }
    cp_async_commit();  // empty groups past the end keep the wait count uniform
  };

#pragma unroll 1
  for (int s = 0; s < STAGES - 1; ++s) issue(s);
  // FP8: the fragments' weight-block scales, once (their latency overlaps the copies in flight).
  if constexpr (!kFp4) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int64_t rb0 = brow[j] / 128, rb_last = (brow[j] + (fv[j] > 0 ? fv[j] - 1 : 0)) / 128;
      for (int64_t i = lane; i < 2 * KB; i += 32) {
        const int64_t rb = rb0 + i / KB;
        wsc[(j * 2) * KB + i] = (fv[j] > 0 && rb <= rb_last) ? gemm::e8m0_value(bsc[j][rb * KB + i % KB]) : 0.0f;
      }
    }
  }
  __syncwarp();
  // Per output column of this lane and fragment: its scale row (FP8: 0/1 block of wsc; MXFP4: the
  // row within the fragment), -1 past N (scale 0, as mma_gemm).
  int wrow[FN][2];
#pragma unroll
  for (int j = 0; j < FN; ++j)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int r = q * 2 + c;
      wrow[j][c] = r < fv[j] ? (kFp4 ? r : int((brow[j] + r) / 128 - brow[j] / 128)) : -1;
    }

  float acc[FM][FN][4];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.0f;

#pragma unroll 1
  for (int64_t kb = 0; kb < KB; ++kb) {
    issue(kb + STAGES - 1);
    cp_async_wait<STAGES - 1>();
    __syncwarp();
    const uint8_t* As = smem + size_t(kb % STAGES) * SLOT;
    const uint8_t* Bs = As + AR * kLds;
    const float* sa = reinterpret_cast<const float*>(Bs + BR * kLds);
    const uint8_t* sb4 = reinterpret_cast<const uint8_t*>(sa + AR);  // MXFP4 [BR][4]
    float p[FM][FN][4];
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j)
#pragma unroll
        for (int c = 0; c < 4; ++c) p[i][j][c] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      const int kofs = ks * 32 + q * 4;
      uint32_t af[FM][4], bf[FN][2];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int r = i * 16 + g;
        af[i][0] = *reinterpret_cast<const uint32_t*>(As + r * kLds + kofs);
        af[i][2] = *reinterpret_cast<const uint32_t*>(As + r * kLds + kofs + 16);
        if constexpr (HALF) {
          af[i][1] = af[i][3] = 0u;
        } else {
          af[i][1] = *reinterpret_cast<const uint32_t*>(As + (r + 8) * kLds + kofs);
          af[i][3] = *reinterpret_cast<const uint32_t*>(As + (r + 8) * kLds + kofs + 16);
        }
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int n = j * 8 + g;
        if constexpr (kFp4) {  // elements kofs..+3 and kofs+16..+19 are nibbles of bytes kofs/2 ..
          const uint8_t* row = Bs + n * kLds;
          bf[j][0] = gemm::e2m1x4_to_e4m3x4(*reinterpret_cast<const uint16_t*>(row + kofs / 2));
          bf[j][1] = gemm::e2m1x4_to_e4m3x4(*reinterpret_cast<const uint16_t*>(row + kofs / 2 + 8));
        } else {
          bf[j][0] = *reinterpret_cast<const uint32_t*>(Bs + n * kLds + kofs);
          bf[j][1] = *reinterpret_cast<const uint32_t*>(Bs + n * kLds + kofs + 16);
        }
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) gemm::mma_e4m3(p[i][j], af[i], bf[j]);
      if constexpr (kFp4) {  // per 32-wide step: acc += p · (s_a · s_w32), p back to 0
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          const float s0 = sa[i * 16 + g], s1 = HALF ? 0.0f : sa[i * 16 + g + 8];
#pragma unroll
          for (int j = 0; j < FN; ++j) {
            const float w0 = wrow[j][0] >= 0 ? gemm::e8m0_value(sb4[(8 * j + wrow[j][0]) * 4 + ks]) : 0.0f;
            const float w1 = wrow[j][1] >= 0 ? gemm::e8m0_value(sb4[(8 * j + wrow[j][1]) * 4 + ks]) : 0.0f;
            acc[i][j][0] = fmaf(p[i][j][0], s0 * w0, acc[i][j][0]);
            acc[i][j][1] = fmaf(p[i][j][1], s0 * w1, acc[i][j][1]);
            acc[i][j][2] = fmaf(p[i][j][2], s1 * w0, acc[i][j][2]);
            acc[i][j][3] = fmaf(p[i][j][3], s1 * w1, acc[i][j][3]);
            p[i][j][0] = p[i][j][1] = p[i][j][2] = p[i][j][3] = 0.0f;
          }
        }
      }
    }
    if constexpr (!kFp4) {  // per 128-wide block: acc += p · (s_a · s_w)
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const float s0 = sa[i * 16 + g], s1 = HALF ? 0.0f : sa[i * 16 + g + 8];
#pragma unroll
        for (int j = 0; j < FN; ++j) {
          const float w0 = wrow[j][0] >= 0 ? wsc[(j * 2 + wrow[j][0]) * KB + kb] : 0.0f;
          const float w1 = wrow[j][1] >= 0 ? wsc[(j * 2 + wrow[j][1]) * KB + kb] : 0.0f;
          acc[i][j][0] = fmaf(p[i][j][0], s0 * w0, acc[i][j][0]);
          acc[i][j][1] = fmaf(p[i][j][1], s0 * w1, acc[i][j][1]);
          acc[i][j][2] = fmaf(p[i][j][2], s1 * w0, acc[i][j][2]);
          acc[i][j][3] = fmaf(p[i][j][3], s1 * w1, acc[i][j][3]);
        }
      }
    }
    __syncwarp();  // the slot is refilled by the next iteration's issue
  }
  cp_async_wait<0>();

#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int h = 0; h < (HALF ? 1 : 2); ++h) {
      const int r = i * 16 + g + h * 8;
      if (r >= rows) continue;
      float* yrow = a.y + (r0 + r) * a.ldy;
      if constexpr (EPI == gemm::kEpiSwiglu) {
        const float rw = a.row_weight != nullptr ? a.row_weight[r0 + r] : 1.0f;
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int64_t col = n0 + q * 2 + c;
          if (col < a.N) yrow[col] = gemm::swiglu_value(acc[i][0][h * 2 + c], acc[i][1][h * 2 + c], a.limit, rw);
        }
      } else {
#pragma unroll
        for (int j = 0; j < FN; ++j)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            const int64_t col = n0 + j * 8 + q * 2 + c;
            if (col < a.N) {
              const float v = a.alpha * acc[i][j][h * 2 + c];
              yrow[col] = a.accumulate ? yrow[col] + v : v;
            }
          }
      }
    }
}

}  // namespace dsv4::cuda::decode
