// Manifold-constrained hyper-connections (spec §6) on the GPU: CpuOps::hc_pre, hc_post, hc_head.
// n = 4 streams (hc_mult of every V4 model), any d % 4 == 0 (256, 4096, 7168), fp32.
//
// hc_pre / hc_head run in two kernels: (1) the projection X·fnᵀ together with Σx² — a skinny
// [S, n·d] × [mix, n·d]ᵀ reduction that reads X once and fn from L2, split over fixed 1024-column
// chunks (the chunking depends on n·d only, so a token's result never depends on S or on the other
// tokens), partial sums into `workspace`; (2) per token: the chunk sums in order, rms, sigmoids,
// Sinkhorn (CPU's fp32 steps), and the collapse Σ_j pre[j]·X[s, j, :] (a second, streaming read of X).
// Results match the CPU to ~1e-6 relative (the dot products are summed in another order).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct HcPreParams {
  const float* X = nullptr;     // [S, n, d] device, 16-byte aligned
  const float* fn = nullptr;    // [(2+n)·n, n·d], 16-byte aligned
  const float* scale = nullptr;  // [3]
  const float* base = nullptr;  // [(2+n)·n]
  float* a_in = nullptr;        // [S, d] out, 16-byte aligned
  float* post = nullptr;        // [S, n] out
  float* comb = nullptr;        // [S, n, n] out
  void* workspace = nullptr;    // hc_pre_workspace_bytes(S, d) bytes, 16-byte aligned
  size_t workspace_bytes = 0;
  int64_t S = 0;                // >= 0
  int64_t d = 0;                // > 0, % 4 == 0
  int n = 4;                    // must be 4
  float norm_eps = 1e-6f;
  float hc_eps = 1e-6f;
  int sinkhorn_iters = 20;      // >= 1
  // Coefficients and Sinkhorn on 24/16 lanes instead of one thread: the same bits, ~20 µs less per
  // call at decode sizes (one thread's 650 dependent fp32 divisions). On by default since
  // LayerOps.HcPreParallelSinkhornSameBits passed on the H200 (2026-12-02, commit 7718e10).
  bool parallel_sinkhorn = true;
};

struct HcPostParams {
  const float* f = nullptr;     // [S, d] (the sublayer output)
  const float* X = nullptr;     // [S, n, d]
  const float* post = nullptr;  // [S, n]
  const float* comb = nullptr;  // [S, n, n]
  float* Xout = nullptr;        // [S, n, d]; must not alias X
  int64_t S = 0;
  int64_t d = 0;                // > 0, % 4 == 0; f, X, Xout 16-byte aligned
  int n = 4;                    // must be 4
};

struct HcHeadParams {
  const float* X = nullptr;     // [S, n, d]
  const float* fn = nullptr;    // [n, n·d]
  const float* scale = nullptr;  // [1]
  const float* base = nullptr;  // [n]
  float* y = nullptr;           // [S, d]
  void* workspace = nullptr;    // hc_head_workspace_bytes(S, d) bytes
  size_t workspace_bytes = 0;
  int64_t S = 0;
  int64_t d = 0;                // > 0, % 4 == 0
  int n = 4;                    // must be 4
  float norm_eps = 1e-6f;
  float hc_eps = 1e-6f;
};

#if DSV4_LAYER_OPS_HOST
size_t hc_pre_workspace_bytes(int64_t S, int64_t d);
size_t hc_head_workspace_bytes(int64_t S, int64_t d);

Status check_hc_pre(const HcPreParams& p);
Status check_hc_post(const HcPostParams& p);
Status check_hc_head(const HcHeadParams& p);
Status hc_pre(const HcPreParams& p, cudaStream_t stream);
Status hc_post(const HcPostParams& p, cudaStream_t stream);
Status hc_head(const HcHeadParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
