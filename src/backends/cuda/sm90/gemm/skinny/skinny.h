// The "skinny-fp32" linear (decode sizes, act_quant None): a memory-bound GEMV-style kernel for
// small M over BF16, F32 and FP8 e4m3 (UE8M0 128x128 block scales) weights; linear.cu dispatches
// to it for M <= skinny_max_m() (linear.h).
//
//   y[m, g·N + j] (row stride ldy) = alpha · Σ_k x[m, g·K + k] · W[row0 + g·N + j, k]  (+ y when accumulate)
//   for m < M, j < N, g < G, K = weight row length; fp32 accumulation, fp32 output.
//
// Design: every weight row is read once (per chunk of MR rows of x) with 16-byte loads coalesced
// along K (a warp reads 512 contiguous bytes per row per step); x is read as fp32 through the
// read-only L1 path (the same x vector serves all RN rows a warp holds and every warp of the CTA);
// no shared-memory tiles, no atomics.
//
// Per-output arithmetic (the fixed reduction order; it depends on (format, K) only, never on M,
// N, row0 or the launch shape, so a row's bits are independent of M and of the other rows):
//  * K is cut into vectors of VW elements (16 bytes of weight: F32 4, BF16 8, FP8 16) and steps of
//    32 vectors (SE = 32·VW elements). Steps c = 0 .. C-1, C = ceil(K / SE).
//  * KS = skinny_k_slices(format, K) slices (1, 2, 4 or 8): slice s holds the steps c ≡ s (mod KS).
//  * Lane l of slice s: one fp32 FMA chain acc = fma(x[k], w[k], acc) from 0 over its steps in
//    increasing c and, inside a step, over the elements k = c·SE + l·VW + 0 .. VW-1 (elements past
//    K contribute fma(0, 0, acc)). W's element value is exact (BF16/F32 as is, FP8 code · 2^(s-127)).
//  * The 32 lane chains of a slice are added by the xor butterfly 16, 8, 4, 2, 1 (__shfl_xor_sync).
//  * The KS slice sums are added in slice order: ((p0 + p1) + p2) + ...; then v = alpha · sum and
//    y = accumulate ? y + v : v (as the other paths).
// This is a different order from simt-fp32's single k-ordered chain: both match the CPU linear to
// fp32 reordering (~1e-6 relative to Σ|x·w|), but not bitwise to each other.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/error.h"

namespace dsv4::cuda {

enum class SkinnyFormat : uint8_t { F32, BF16, FP8Block };

// Elements per 16-byte weight vector.
constexpr int skinny_vector_elems(SkinnyFormat f) { return f == SkinnyFormat::F32 ? 4 : f == SkinnyFormat::BF16 ? 8 : 16; }

// The number of K slices (part of the numerics: a function of the format and K only): the largest
// power of two <= 8 that leaves every slice at least 4 steps (1 when K has fewer than 8 steps).
constexpr int skinny_k_slices(SkinnyFormat f, int64_t K) {
  const int64_t se = 32 * int64_t(skinny_vector_elems(f));
  const int64_t steps = (K + se - 1) / se;
  const int64_t t = steps / 4;
  return t >= 8 ? 8 : t >= 4 ? 4 : t >= 2 ? 2 : 1;
}

struct SkinnyParams {
  const float* x = nullptr;        // fp32 [M, ldx]; group g reads columns [g·K, (g+1)·K)
  int64_t M = 0;                   // 1 .. any (a CTA holds MR <= 16 rows; more rows: more CTAs)
  int64_t ldx = 0;                 // >= G·K
  SkinnyFormat format = SkinnyFormat::BF16;
  const void* w = nullptr;         // [rows, K] row-major: fp32, bf16 bits or e4m3 codes
  const uint8_t* scale = nullptr;  // FP8Block: e8m0 [ceil(rows/128), ceil(K/128)]; else unused
  int64_t K = 0;                   // weight row length (>= 1)
  int64_t row0 = 0;                // first weight row
  int64_t N = 0;                   // output columns per group
  int64_t groups = 1;              // G >= 1: group g uses weight rows row0 + g·N ..
  float* y = nullptr;              // fp32 [M, ldy], ldy >= G·N; must not alias x
  int64_t ldy = 0;
  float alpha = 1.0f;
  bool accumulate = false;
};

// The launch shape the heuristic picks (none of it changes the numerics).
struct SkinnyConfig {
  int mr = 1;   // x rows per CTA (1, 2, 4, 8, 16)
  int rn = 1;   // weight rows per warp (1, 2, 4; <= 2 when mr >= 8)
  int ks = 1;   // K slices (skinny_k_slices)
  int nw = 1;   // warps along N per CTA (KS·NW warps, <= 8)
  int64_t ctas = 0;
};
SkinnyConfig skinny_config(const SkinnyParams& p);

// Checks the shape; M == 0 or N == 0 queues nothing. Vector loads are used where x / W rows are
// 16-byte aligned (odd K and unaligned pointers take a scalar load path with the same arithmetic).
Status skinny_linear(const SkinnyParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
