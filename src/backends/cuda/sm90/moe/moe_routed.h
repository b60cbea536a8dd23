// The routed experts of one MoE layer on the GPU (Hopper, sm_90a):
//
//   y[t, :] = Σ_{j<k, ids[t,j] >= 0} expert_{ids[t, j]}(x[t, :]; weights[t, j])
//   expert_e(x; w) = w2_e · q2( swiglu(w1_e · q1(x), w3_e · q1(x)) · w )
//
// exactly as src/model/expert.cpp + moe.cpp compose it: clamped SwiGLU (limit = swiglu_limit,
// <= 0: none), the routing weight multiplying the SwiGLU output before w2, q1/q2 the act_quant of
// project(): official numerics -> §9.1 FP8 1x128 for MXFP4/FP8Block experts, NVFP4 (input_scale) for
// NVFP4 experts, none for BF16 experts; exact numerics -> none. The shared expert is not included
// (the caller runs it with linear).
//
// Work on `stream`, no host synchronization, fixed launch shapes for a given T (CUDA-graph
// capturable): (0, FP8 path) the §9.1 quantization of x [T, d] to e4m3 + scales, once; (1) one
// permutation kernel (count rows per expert, prefix sums, scatter, the list of
// BM-row tiles of the experts that have rows); (2) one grouped GEMM launch for w1|w3 over all
// tiles with the SwiGLU (and routing weight) fused in its epilogue -> h [T·k, I]; (3) one grouped
// launch for w2 (FP8 path: after quantizing h once) -> yk [T·k, d]; (4) a deterministic un-permute: y[t] = Σ_j yk[slot(t, j)] in j
// order (no atomics on floats). Each (token, j) row is computed by the same instruction sequence
// whatever its position (batch invariant).
//
// GEMM paths: official MXFP4/FP8Block -> FP8 mma.sync (T <= kDecodeMoeMaxTokens = 16:
// gemm/decode_fp8.h's streaming kernels over the same tile list, bitwise equal to the tiled ones) (W4A8: e2m1 re-encoded to e4m3 exactly, the
// UE8M0 1x32 scales applied per 32-wide K block, §9.1 fp4_gemm); everything else (exact mode, BF16,
// NVFP4 with NVFP4 activations) -> the fp32 SIMT kernel with the weight decoded exactly in shared
// memory (see gemm/linear.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/linear_weight.h"

namespace dsv4::cuda {

namespace gemm {
struct ExpertEntry;
}

// One expert's three matrices (host structs; their TensorViews point to device memory).
struct ExpertWeightsView {
  const LinearWeight* w1 = nullptr;  // [I, d]
  const LinearWeight* w3 = nullptr;  // [I, d]
  const LinearWeight* w2 = nullptr;  // [d, I]
};

// Device table of E experts' weight pointers; build once at load (prepare_expert_table), keep,
// free with free_expert_table.
struct ExpertTable {
  WeightFormat format = WeightFormat::MXFP4;
  int64_t E = 0, d = 0, I = 0;
  gemm::ExpertEntry* entries = nullptr;  // device array [E]
  bool aligned = false;                   // every code/value tensor 16-byte aligned
  bool scales_aligned = false;            // every scale tensor 4-byte aligned (the decode path's copies)
};

// All experts must share one format and shape; NVFP4 experts need w1.input_scale == w3.input_scale
// (the fused w1|w3 GEMM quantizes x once). Synchronous (cudaMalloc + cudaMemcpy).
Status prepare_expert_table(const ExpertWeightsView* experts, int64_t E, ExpertTable* table);
void free_expert_table(ExpertTable* table);

struct MoeRoutedParams {
  const float* x = nullptr;        // fp32 [T, d], 16-byte aligned
  int64_t T = 0;                   // tokens, any >= 0
  const int32_t* ids = nullptr;    // int32 [T, k]: expert ids in [expert0, expert0 + E); -1 (or any id outside) = skipped
  int64_t expert0 = 0;             // the table's entry e is expert expert0 + e (expert parallelism: a rank's share)
  const float* weights = nullptr;  // fp32 [T, k]
  int64_t k = 0;                   // experts per token, >= 1
  const ExpertTable* table = nullptr;
  float swiglu_limit = 0.0f;
  bool official = true;            // official (quantized activations) or exact numerics
  float* y = nullptr;              // fp32 [T, d], overwritten
  void* workspace = nullptr;       // device scratch, 256-byte aligned, >= moe_workspace_bytes(...)
  size_t workspace_bytes = 0;
};

// Scratch bytes moe_routed needs for T tokens of k experts (E experts of d -> I -> d).
size_t moe_workspace_bytes(int64_t T, int64_t k, int64_t d, int64_t I, int64_t E);

// Benchmark/test hook: the largest T that takes the decode kernels (gemm/decode_fp8.h; 0: never;
// negative: the default kDecodeMoeMaxTokens). Bitwise the same outputs either way. Not thread-safe.
void set_moe_decode_max_tokens(int64_t t);

Status check_moe_routed(const MoeRoutedParams& p);
Status moe_routed(const MoeRoutedParams& p, cudaStream_t stream);

// Which GEMM path and tile the call takes (for logs and benchmarks).
const char* moe_routed_path(const MoeRoutedParams& p);

}  // namespace dsv4::cuda
