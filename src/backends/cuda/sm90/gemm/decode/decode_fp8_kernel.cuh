// The mma-fp8-decode kernel (decode_fp8.h states what it computes and why its outputs equal
// mma_gemm's bitwise). Device code only; included by decode_fp8.cu.
//
// CTA = one warp = 8·FN output columns for all the rows of its row tile (linear: all M rows; MoE:
// one tile {expert, first permuted row, rows} of the permutation's list). Shared memory: STAGES
// slots, each one 128-wide K block: A codes [AR][kLds], B codes [BR][LDB] (MXFP4: the 64 packed
// bytes of the block), MXFP4: B scales [BR][4] e8m0 bytes; behind the slots, read once at the
// start: the FP8 weight-block scales of the warp's fragments as fp32 [FN][2][KB] (a fragment of 8
// rows spans at most two 128-row scale blocks), the A scales [AR][KB + 1] and the A row indices
// [AR]. Rows of A past the tile and of B past N are zero in every slot and never copied.
//
// Weight formats (WF, as gemm_core.cuh): kFP8 — per block p = Σ_ks mma, acc = fma(p, s_a·s_w, acc);
// kMXFP4 — the e2m1 codes are re-encoded to e4m3 in the fragment load (the same exact map as
// mma_gemm's tile fill), per 32-wide step p = mma from 0, acc = fma(p, s_a·s_w32, acc).
// Epilogues (EPI): kEpiStore — y = alpha·acc (+ y); kEpiSwiglu (FN = 2, MoE w1|w3) — fragment 0
// holds w1 rows, fragment 1 the same w3 rows, h = swiglu(acc0, acc1; limit) · routing weight.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/sm90/gemm/tiled/gemm_core.cuh"

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

constexpr int kLds = 144;  // bytes per shared A row (and FP8 B row): 128 + 16, conflict-free fragment reads

template <int WF, int FM, bool HALF, int FN>
struct Shape {
  static constexpr bool kFp4 = WF == gemm::kMXFP4;
  static constexpr int AR = HALF ? 8 : 16 * FM;  // A rows held
  static constexpr int BR = 8 * FN;              // B rows (output columns) per warp
  static constexpr int LDB = kFp4 ? 80 : kLds;   // bytes per shared B row (MXFP4: 64 packed bytes + 16)
  static constexpr int BSC = kFp4 ? BR * 4 : 0;  // MXFP4 scale bytes per slot
  static constexpr int SLOT = AR * kLds + BR * LDB + BSC;
  // behind the slots: FP8 weight scales [FN][2][KB] fp32, the A scales [AR][KB + 1] fp32, then the
  // A row indices [AR]
  static size_t bytes(int stages, int64_t KB) {
    return size_t(stages) * SLOT + (kFp4 ? 0 : size_t(FN) * 2 * size_t(KB) * 4) + size_t(AR) * size_t(KB + 1) * 4 +
           size_t(AR) * 4;
  }
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

// 16 bytes global -> shared, L2 only; src_bytes 0 writes zeros.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// The A fragment of mma_e4m3 (mma_e4m3.cuh) for rows g and g + 8 of a 16-row tile at byte kofs
// (HALF: rows 8..15 do not exist and read as zero).
template <bool HALF>
__device__ __forceinline__ void load_a_frag(const uint8_t* tile, int g, int kofs, uint32_t af[4]) {
  af[0] = *reinterpret_cast<const uint32_t*>(tile + g * kLds + kofs);
  af[2] = *reinterpret_cast<const uint32_t*>(tile + g * kLds + kofs + 16);
  if constexpr (HALF) {
    af[1] = af[3] = 0u;
  } else {
    af[1] = *reinterpret_cast<const uint32_t*>(tile + (g + 8) * kLds + kofs);
    af[3] = *reinterpret_cast<const uint32_t*>(tile + (g + 8) * kLds + kofs + 16);
  }
}

// STAGES slots hold K blocks in flight; each iteration consumes U blocks at once (U independent
// mma chains for FP8, so one warp keeps its tensor and load pipes busy).
template <int WF, int EPI, int FM, bool HALF, int FN, int STAGES, int U>
__global__ void __launch_bounds__(32) decode_fp8_gemm(const Args a) {
  using S = Shape<WF, FM, HALF, FN>;
  constexpr int AR = S::AR, BR = S::BR, LDB = S::LDB, SLOT = S::SLOT;
  constexpr bool kFp4 = S::kFp4;
  constexpr int kBChunks = kFp4 ? 4 : 8;            // 16-byte chunks of one B row per K block
  constexpr int kBPer = (8 * kBChunks + 31) / 32;   // per lane per fragment
  constexpr int kAPer = (AR * 8 + 31) / 32;         // A chunks per lane
  static_assert(!HALF || FM == 1, "half tiles hold one 16-row fragment");
  static_assert(EPI != gemm::kEpiSwiglu || FN == 2, "SwiGLU pairs one w1 and one w3 fragment");
  static_assert(WF == gemm::kFP8 || WF == gemm::kMXFP4, "FP8 or MXFP4 weights");
  static_assert(STAGES % U == 0 && STAGES > U, "whole batches of U blocks");
  extern __shared__ __align__(16) uint8_t smem[];
  const int lane = int(threadIdx.x), g = lane / 4, q = lane % 4;
  const int64_t K = a.K;
  const int KB = int(a.KB);

  // The row tile and the B matrices of this CTA.
  int64_t r0 = 0;
  int rows = a.M;
  const uint8_t* bw[FN];   // fragment j: its matrix's codes
  const uint8_t* bsc[FN];  // fragment j: its matrix's scales
  int64_t brow[FN];        // fragment j: first weight row
  int64_t n0;              // first output column
  if (a.tiles != nullptr) {
    if (int(blockIdx.y) >= *a.tile_count) return;
    const int32_t* ti = a.tiles + 3 * blockIdx.y;
    const gemm::ExpertEntry& e = a.experts[ti[0]];
    r0 = ti[1];
    rows = ti[2];
    if constexpr (EPI == gemm::kEpiSwiglu) {
      n0 = int64_t(blockIdx.x) * 8;
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        brow[j] = n0;
        bsc[j] = j == 0 ? e.w1.s : e.w3.s;
        bw[j] = j == 0 ? e.w1.w : e.w3.w;
      }
    } else {
      n0 = int64_t(blockIdx.x) * BR;
      const uint8_t* mw = a.which == 0 ? e.w1.w : e.w2.w;
      const uint8_t* ms = a.which == 0 ? e.w1.s : e.w2.s;
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        brow[j] = n0 + 8 * j;
        bsc[j] = ms;
        bw[j] = mw;
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
  int fv[FN];  // valid rows of fragment j (output columns left)
#pragma unroll
  for (int j = 0; j < FN; ++j) {
    const int64_t c0 = EPI == gemm::kEpiSwiglu ? n0 : n0 + 8 * j;
    const int64_t left = a.N - c0;
    fv[j] = left <= 0 ? 0 : left < 8 ? int(left) : 8;
  }

  const int KBp = KB + 1;
  float* wsc = reinterpret_cast<float*>(smem + size_t(STAGES) * SLOT);  // FP8: [FN][2][KB]
  float* sA = wsc + (kFp4 ? 0 : FN * 2 * KB);                            // [AR][KB + 1]
  int32_t* arow = reinterpret_cast<int32_t*>(sA + AR * KBp);              // [AR]
  for (int r = lane; r < AR; r += 32)
    arow[r] = r < Mv ? (a.a_rows != nullptr ? a.a_rows[r0 + r] : int32_t(r0 + r)) : 0;

  // Zero what is never copied: A rows >= Mv (and their scales), B rows past N (and their scales).
  for (int s = 0; s < STAGES; ++s) {
    uint8_t* slot = smem + size_t(s) * SLOT;
    for (int c = lane; c < (AR - Mv) * (kLds / 16); c += 32)
      reinterpret_cast<uint4*>(slot + Mv * kLds)[c] = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int j = 0; j < FN; ++j)
      for (int c = lane; c < (8 - fv[j]) * (LDB / 16); c += 32)
        reinterpret_cast<uint4*>(slot + AR * kLds + (8 * j + fv[j]) * LDB)[c] = make_uint4(0, 0, 0, 0);
    if constexpr (kFp4) {
      uint32_t* bs = reinterpret_cast<uint32_t*>(slot + AR * kLds + BR * LDB);
#pragma unroll
      for (int j = 0; j < FN; ++j)
        for (int r = fv[j] + lane; r < 8; r += 32) bs[8 * j + r] = 0u;
    }
  }
  __syncwarp();

  // This lane's copies, planned once: A chunks (row, 16-byte part), B chunks per fragment, scales.
  const int64_t brow_bytes = kFp4 ? K / 2 : K;  // bytes per weight row
  int32_t a_off[kAPer];   // element offset of the chunk in xq at block 0 (-1: none)
  uint32_t a_dst[kAPer];
  int a_k[kAPer];         // the chunk's first k within a block
#pragma unroll
  for (int t = 0; t < kAPer; ++t) {
    const int c = lane + 32 * t, r = c >> 3, part = c & 7;
    a_off[t] = c < Mv * 8 ? int32_t(int64_t(arow[r]) * K) + part * 16 : -1;
    a_dst[t] = uint32_t(r * kLds + part * 16);
    a_k[t] = part * 16;
  }
  const uint8_t* b_src[FN][kBPer];
  uint32_t b_dst[FN][kBPer];
  int b_part[FN][kBPer];  // -1: none
#pragma unroll
  for (int j = 0; j < FN; ++j)
#pragma unroll
    for (int t = 0; t < kBPer; ++t) {
      const int c = lane + 32 * t, r = c / kBChunks, part = c % kBChunks;
      const bool ok = r < fv[j];
      b_src[j][t] = bw[j] + (ok ? (brow[j] + r) * brow_bytes + part * 16 : 0);
      b_dst[j][t] = uint32_t(AR * kLds + (8 * j + r) * LDB + part * 16);
      b_part[j][t] = ok ? part : -1;
    }
  const uint8_t* bs_src = nullptr;  // MXFP4: this lane's weight row scales (lane < 8·FN)
  if constexpr (kFp4) {
    static_assert(FN <= 2, "fragment select below");
    const int r = lane % 8;
    const bool second = lane >= 8;  // selects, not an indexed array (which would go to the stack)
    const int fvj = second ? fv[FN - 1] : fv[0];
    const uint8_t* bsj = second ? bsc[FN - 1] : bsc[0];
    const int64_t browj = second ? brow[FN - 1] : brow[0];
    if (lane < BR && r < fvj) bs_src = bsj + (browj + r) * (K / 32);
  }
  const uint32_t sbase = smem_addr(smem);

  auto issue = [&](int kb, int slot) {
    if (kb < KB) {
      const uint32_t so = sbase + uint32_t(slot * SLOT);
      const int64_t k0 = int64_t(kb) * 128;
#pragma unroll
      for (int t = 0; t < kAPer; ++t) {
        if (a_off[t] < 0) continue;
        const bool in = k0 + a_k[t] < K;
        cp_async16(so + a_dst[t], in ? a.xq + a_off[t] + k0 : a.xq, in ? 16 : 0);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j)
#pragma unroll
        for (int t = 0; t < kBPer; ++t) {
          if (b_part[j][t] < 0) continue;
          const int64_t kbyte = (kFp4 ? k0 / 2 : k0) + b_part[j][t] * 16;
          const bool in = kbyte < brow_bytes;
          cp_async16(so + b_dst[j][t], in ? b_src[j][t] + (kFp4 ? k0 / 2 : k0) : b_src[j][t], in ? 16 : 0);
        }
      if constexpr (kFp4) {  // the four 1x32 scales of this lane's weight row (K % 128 == 0)
        if (bs_src != nullptr) cp_async4(so + uint32_t(AR * kLds + BR * LDB + lane * 4), bs_src + kb * 4);
      }
    }
    cp_async_commit();  // empty groups past the end keep the wait count uniform
  };

  int slot_w = 0;
#pragma unroll 1
  for (int s = 0; s < STAGES - U; ++s) {
    issue(s, slot_w);
    slot_w = slot_w + 1 == STAGES ? 0 : slot_w + 1;
  }
  // The A scales and (FP8) the fragments' weight-block scales, once (their latency overlaps the
  // copies in flight).
  for (int i = lane; i < AR * KB; i += 32) {
    const int r = i / KB, kb = i % KB;
    sA[r * KBp + kb] = r < Mv ? a.xs[int64_t(arow[r]) * KB + kb] : 0.0f;
  }
  if constexpr (!kFp4) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int64_t rb0 = brow[j] / 128, rb_last = (brow[j] + (fv[j] > 0 ? fv[j] - 1 : 0)) / 128;
      for (int i = lane; i < 2 * KB; i += 32) {
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

  int slot_r = 0;
#pragma unroll 1
  for (int kb0 = 0; kb0 < KB; kb0 += U) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      issue(kb0 + STAGES - U + u, slot_w);
      slot_w = slot_w + 1 == STAGES ? 0 : slot_w + 1;
    }
    cp_async_wait<STAGES - U>();
    __syncwarp();
    if constexpr (!kFp4) {
      // U independent blocks: p[u] = Σ_ks mma from 0, then acc = fma(p[u], s_a·s_w, acc) in block order.
      float p[U][FM][FN][4];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int i = 0; i < FM; ++i)
#pragma unroll
          for (int j = 0; j < FN; ++j)
#pragma unroll
            for (int c = 0; c < 4; ++c) p[u][i][j][c] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < 4; ++ks)
#pragma unroll
        for (int u = 0; u < U; ++u) {
          if (kb0 + u >= KB) break;  // warp-uniform
          const int sl = slot_r + u >= STAGES ? slot_r + u - STAGES : slot_r + u;
          const uint8_t* As = smem + sl * SLOT;
          const uint8_t* Bs = As + AR * kLds;
          const int kofs = ks * 32 + q * 4;
          uint32_t af[FM][4], bf[FN][2];
#pragma unroll
          for (int i = 0; i < FM; ++i) load_a_frag<HALF>(As + i * 16 * kLds, g, kofs, af[i]);
#pragma unroll
          for (int j = 0; j < FN; ++j) {
            bf[j][0] = *reinterpret_cast<const uint32_t*>(Bs + (j * 8 + g) * LDB + kofs);
            bf[j][1] = *reinterpret_cast<const uint32_t*>(Bs + (j * 8 + g) * LDB + kofs + 16);
          }
#pragma unroll
          for (int i = 0; i < FM; ++i)
#pragma unroll
            for (int j = 0; j < FN; ++j) gemm::mma_e4m3(p[u][i][j], af[i], bf[j]);
        }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (kb0 + u >= KB) break;
        const int kb = kb0 + u;
#pragma unroll
        for (int i = 0; i < FM; ++i) {
          const float s0 = sA[(i * 16 + g) * KBp + kb], s1 = HALF ? 0.0f : sA[(i * 16 + g + 8) * KBp + kb];
#pragma unroll
          for (int j = 0; j < FN; ++j) {
            const float w0 = wrow[j][0] >= 0 ? wsc[(j * 2 + wrow[j][0]) * KB + kb] : 0.0f;
            const float w1 = wrow[j][1] >= 0 ? wsc[(j * 2 + wrow[j][1]) * KB + kb] : 0.0f;
            acc[i][j][0] = fmaf(p[u][i][j][0], s0 * w0, acc[i][j][0]);
            acc[i][j][1] = fmaf(p[u][i][j][1], s0 * w1, acc[i][j][1]);
            acc[i][j][2] = fmaf(p[u][i][j][2], s1 * w0, acc[i][j][2]);
            acc[i][j][3] = fmaf(p[u][i][j][3], s1 * w1, acc[i][j][3]);
          }
        }
      }
    } else {
      // MXFP4: per block, the four 32-wide steps are independent mmas from 0; acc = fma(p, s_a·s_w32,
      // acc) in (block, step) order.
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (kb0 + u >= KB) break;
        const int sl = slot_r + u >= STAGES ? slot_r + u - STAGES : slot_r + u;
        const uint8_t* As = smem + sl * SLOT;
        const uint8_t* Bs = As + AR * kLds;
        const uint8_t* sb4 = Bs + BR * LDB;  // [BR][4]
        const int kb = kb0 + u;
        float p[4][FM][FN][4];
#pragma unroll
        for (int ks = 0; ks < 4; ++ks) {
          const int kofs = ks * 32 + q * 4;
          uint32_t af[FM][4], bf[FN][2];
#pragma unroll
          for (int i = 0; i < FM; ++i) load_a_frag<HALF>(As + i * 16 * kLds, g, kofs, af[i]);
#pragma unroll
          for (int j = 0; j < FN; ++j) {  // elements kofs..+3 and kofs+16..+19: nibbles of bytes kofs/2 ..
            const uint8_t* row = Bs + (j * 8 + g) * LDB;
            bf[j][0] = gemm::e2m1x4_to_e4m3x4(*reinterpret_cast<const uint16_t*>(row + kofs / 2));
            bf[j][1] = gemm::e2m1x4_to_e4m3x4(*reinterpret_cast<const uint16_t*>(row + kofs / 2 + 8));
          }
#pragma unroll
          for (int i = 0; i < FM; ++i)
#pragma unroll
            for (int j = 0; j < FN; ++j) {
#pragma unroll
              for (int c = 0; c < 4; ++c) p[ks][i][j][c] = 0.0f;
              gemm::mma_e4m3(p[ks][i][j], af[i], bf[j]);
            }
        }
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
#pragma unroll
          for (int i = 0; i < FM; ++i) {
            const float s0 = sA[(i * 16 + g) * KBp + kb], s1 = HALF ? 0.0f : sA[(i * 16 + g + 8) * KBp + kb];
#pragma unroll
            for (int j = 0; j < FN; ++j) {
              const float w0 = wrow[j][0] >= 0 ? gemm::e8m0_value(sb4[(8 * j + wrow[j][0]) * 4 + ks]) : 0.0f;
              const float w1 = wrow[j][1] >= 0 ? gemm::e8m0_value(sb4[(8 * j + wrow[j][1]) * 4 + ks]) : 0.0f;
              acc[i][j][0] = fmaf(p[ks][i][j][0], s0 * w0, acc[i][j][0]);
              acc[i][j][1] = fmaf(p[ks][i][j][1], s0 * w1, acc[i][j][1]);
              acc[i][j][2] = fmaf(p[ks][i][j][2], s1 * w0, acc[i][j][2]);
              acc[i][j][3] = fmaf(p[ks][i][j][3], s1 * w1, acc[i][j][3]);
            }
          }
      }
    }
    slot_r = slot_r + U >= STAGES ? slot_r + U - STAGES : slot_r + U;
    __syncwarp();  // these slots are refilled by the next iteration's issues
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
