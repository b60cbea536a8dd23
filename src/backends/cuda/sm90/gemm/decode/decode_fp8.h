// The "mma-fp8-decode" linear: the official-numerics FP8 GEMM at decode sizes (M <= 64 rows),
// streaming the weight once through a deep cp.async pipeline instead of mma_gemm's synchronous
// tile fills (which leave HBM idle at small M: bench/results/2026-12-02-cuda-model.md, run 8).
//
//   y[m, j] (row stride ldy) = alpha · Σ_kb (Σ_{k in block kb} xq[m, k] · wq[row0 + j, k]) · s_x[m, kb] · s_w[row0 + j, kb]
//   (+ y when accumulate), m < M <= 64, j < N; xq/s_x: act_quant_fp8's e4m3 codes and fp32
//   power-of-two scales of x (1x128 blocks); wq/s_w: the FP8Block weight (e4m3, e8m0 128x128).
//
// Per-output arithmetic: exactly mma_gemm's (gemm_core.cuh) — per 128-wide K block p = four
// chained mma.sync m16n8k32 e4m3 steps from 0 in k order with the same fragment layout
// (mma_e4m3.cuh), then acc = fma(p, s_x · s_w, acc), blocks in order. So this path and mma-fp8 give
// bitwise the same outputs (tested), and linear may switch between them on M without breaking
// batch invariance.
//
// Design: one warp per CTA owns 8·FN output columns for all M rows (the weight is read once);
// every K block of the warp's weight rows and of x's codes and scales is copied by cp.async into a
// ring of shared-memory slots; the warp's weight-block scales are read once at the start. For
// narrow weights (one 8-column fragment per warp would leave too few warps to cover HBM latency)
// W warps share a strip: each computes the block partials of every W-th chunk of K blocks and
// parks them in shared memory, and warp 0 folds them in block order — the same operations in the
// same order as mma_gemm, so still bitwise equal (decode_fp8_ksplit_kernel.cuh).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/error.h"
#include "core/linear_weight.h"

namespace dsv4::cuda {

namespace gemm {
struct ExpertEntry;
}

constexpr int64_t kDecodeFp8MaxM = 64;

struct DecodeFp8Params {
  const uint8_t* xq = nullptr;     // e4m3 codes [M, K] (rows K apart, 16-byte aligned rows)
  const float* xs = nullptr;       // fp32 scales [M, ceil(K/128)]
  int64_t M = 0;                   // 1 .. kDecodeFp8MaxM
  const uint8_t* w = nullptr;      // e4m3 codes [rows, K], 16-byte aligned
  const uint8_t* ws = nullptr;     // e8m0 [ceil(rows/128), ceil(K/128)]
  int64_t K = 0;                   // % 32 == 0
  int64_t row0 = 0;                // first weight row
  int64_t N = 0;                   // output columns
  float* y = nullptr;              // fp32 [M, ldy], ldy >= N
  int64_t ldy = 0;
  float alpha = 1.0f;
  bool accumulate = false;
};

// The launch shape (none of it changes the numerics).
struct DecodeFp8Config {
  int fm = 1;        // 16-row A fragments (1, 2, 4); half: only rows 0..7 exist (M <= 8)
  bool half = false;
  int fn = 1;        // 8-column B fragments per warp (1, 2)
  int warps = 1;     // per CTA: 1, or W > 1 for the K-split kernel (narrow N, M <= 16: W warps share
                     // one 8-column strip, each streaming every W-th chunk of K blocks; warp 0 folds)
  int stages = 0;    // cp.async ring depth (per warp)
  int64_t ctas = 0;  // = ceil(N / (8·fn))
  size_t smem = 0;   // dynamic shared memory per CTA
};
DecodeFp8Config decode_fp8_config(int64_t M, int64_t N, int64_t K);

// Checks the shape; M == 0 or N == 0 queues nothing.
Status decode_fp8_linear(const DecodeFp8Params& p, cudaStream_t stream);

// The routed experts' grouped GEMMs at decode sizes (moe_routed.h): the same kernel over the
// permutation's tile list, one CTA per (tile, 8·FN columns), with mma_gemm's per-output arithmetic
// for FP8Block and MXFP4 experts (W4A8: e2m1 -> e4m3 in the fragment load, 1x32 scales per step).
// The default limit on T: on the H200 the decode kernels beat the 16x64 tiles up to T = 8 and lose
// from T = 32 on (bench/results/2026-12-02-cuda-model.md, run 14).
constexpr int64_t kDecodeMoeMaxTokens = 16;
// Rows per tile the permutation must cut for T tokens (8 when T <= 8, else 16).
int decode_moe_tile_rows(int64_t T);

struct DecodeMoeParams {
  WeightFormat format = WeightFormat::MXFP4;  // FP8Block or MXFP4 experts
  bool swiglu = true;                         // w1|w3 -> h with the SwiGLU epilogue; false: w2 -> yk
  int tile_rows = 16;                         // decode_moe_tile_rows(T): the tiles' row bound
  const uint8_t* xq = nullptr;                // e4m3 codes [rows, K]
  const float* xs = nullptr;                  // fp32 scales [rows, ceil(K/128)]
  const int32_t* a_rows = nullptr;            // permuted row -> A row (w1|w3), null: identity (w2)
  const int32_t* tiles = nullptr;             // device [max_tiles][3] {expert, first row, rows}
  const int32_t* tile_count = nullptr;        // device
  int64_t max_tiles = 0;
  const gemm::ExpertEntry* experts = nullptr;  // device [E]
  int64_t K = 0;                              // d (w1|w3) or I (w2); % 128 == 0
  int64_t N = 0;                              // I (w1|w3) or d (w2)
  float* y = nullptr;                         // h [rows, I] or yk [rows, d]
  int64_t ldy = 0;
  const float* row_weight = nullptr;          // SwiGLU: per permuted row
  float limit = 0.0f;                         // SwiGLU clamp (<= 0: none)
};
Status decode_moe_gemm(const DecodeMoeParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
