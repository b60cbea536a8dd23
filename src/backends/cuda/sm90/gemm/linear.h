// Linear layers on the GPU (Hopper, sm_90a): y = alpha · xq · W[row0 : row0 + N]ᵀ (+ y), with the
// activation quantization of the official numerics fused in front (spec §9.1, ModelOpt NVFP4).
//
//   y[m, j] (row stride ldy) = alpha · Σ_k xq[m, k] · W[row0 + j, k]  (+ y[m, j] when accumulate)
//   for m < M, j < N, K = w.in;  xq = act_quant(x[m, :]) (None: x as is).
//   groups G > 1 (the grouped wo_a): for g < G, y[:, g·N + j] = Σ_k x[:, g·K + k] · W[row0 + g·N + j, k].
//
// Paths (plan_linear says which runs and why a faster one did not), one kernel family per folder:
// tiled/ (mma_gemm, simt_gemm), decode/ (mma-fp8-decode), skinny/ (skinny-fp32); the shared
// codecs (gemm_codec.h) and the FP8 MMA instruction (mma_e4m3.cuh) sit here.
//  * "mma-fp8": act_quant Fp8Block128 with an FP8Block or MXFP4 weight. x is first quantized by
//    act_quant_fp8's kernel into the workspace (e4m3, power-of-two 1x128 scales: bit-exact to the
//    CPU's fake_quant_fp8(block 128, bf16_out=false)), then mma.sync m16n8k32 e4m3 tensor cores
//    with per-block scale fix-ups in fp32 (§9.1 fp8_gemm / fp4_gemm; MXFP4 codes are re-encoded
//    to e4m3 exactly in the tile load). Tiles 16x32 (N <= 2048) or 16x64 with 512-wide K fills
//    (M <= 32), else 64x128 (or 64x64) with 128-wide K fills. Two launches (quantize, GEMM) on the stream.
//  * "mma-fp8-decode": the same calls with an FP8Block weight and M <= mma_decode_max_m() (default
//    kDecodeFp8MaxM = 64): x quantized as above, then decode/decode_fp8.h's kernel streams the weight
//    through a deep cp.async ring (one warp per 8 or 16 columns, all rows). It computes every
//    output with mma-fp8's instruction sequence, so the two paths agree bitwise (tested).
//  * "skinny-fp32": act_quant None with a BF16, F32 or FP8Block weight (groups too) and
//    M <= skinny_max_m() (default kSkinnyDefaultMaxM): the memory-bound decode kernel of skinny/skinny.h
//    (16-byte weight loads coalesced along K, fp32 FMA chains per lane, xor-butterfly and
//    fixed-order K-slice reduction; no atomics). Matches the CPU linear to fp32 reordering.
//  * "simt-fp32": everything else (act_quant None: exact mode, BF16/F32 linears, wo_a; and
//    act_quant Nvfp4 — Hopper has no FP4 tensor cores): the weight is decoded exactly to fp32 in
//    shared memory, x stays fp32 (NVFP4 activations are quant-dequantized in the tile load,
//    bit-exact to quant_dequant_nvfp4), one fp32 FMA chain per output in k order: matches the CPU
//    linear to fp32 reordering (~1e-6 relative). Slow (no tensor cores): fine for exact mode.
// Batch invariance: the per-output arithmetic of each path depends only on (format, act_quant, K),
// never on M, so within a path a row's output is bitwise independent of M and of the other rows.
// The path itself depends on M only through skinny_max_m() (default: every M, so act_quant-None
// calls with BF16/F32/FP8Block weights are fully batch invariant); with a finite limit, rows on
// either side of it differ by fp32 reordering (~1e-7 relative).
//
// All pointers are device pointers; w is a host struct whose TensorViews point to device memory.
// Requirements (check_linear): x, y non-null when M·N > 0; ldx >= G·K (x columns used),
// ldy >= G·N; rows [row0, row0 + G·N) inside W; mma-fp8 also needs K % 32 == 0, W codes 16-byte
// aligned, groups == 1 and the workspace; y must not alias x (nor the workspace).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/linear_weight.h"

namespace dsv4::cuda {

enum class ActQuant : uint8_t {
  None,         // x used as is (exact mode; BF16/F32 linears; wo_a)
  Fp8Block128,  // §9.1 e4m3 with power-of-two 1x128 scales (official, FP8Block/MXFP4 weights)
  Nvfp4,        // ModelOpt NVFP4 activations under w.input_scale (official, NVFP4 weights)
};
const char* act_quant_name(ActQuant a);

struct LinearParams {
  bool skinny = true;               // may take skinny-fp32 (the CUDA backend: unless DSV4_CUDA_SKINNY=0)
  const float* x = nullptr;         // fp32 [M, ldx]
  int64_t M = 0;                    // any >= 0
  int64_t ldx = 0;
  const LinearWeight* w = nullptr;  // [out, in], any WeightFormat, views in device memory
  int64_t row0 = 0;
  int64_t N = 0;                    // output columns (per group)
  float* y = nullptr;               // fp32 [M, ldy]
  int64_t ldy = 0;
  float alpha = 1.0f;
  bool accumulate = false;
  ActQuant act_quant = ActQuant::None;
  int64_t groups = 1;               // G >= 1 (act_quant fp8-block128: 1)
  // Scratch for act_quant Fp8Block128 (the e4m3 codes and scales of x): 256-byte aligned device
  // memory of at least linear_workspace_bytes(M, K) bytes; unused otherwise.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Benchmark/test hook: the mma-fp8 tile of calls with M > 32 in linear and moe_routed
// (0: default 64x128; 2: 64x128; 3: 64x64). Not thread-safe; results are bitwise the same for every tile.
void set_mma_large_tile_override(int tile);

// Benchmark/test hook: the largest M that takes mma-fp8-decode (0: never; negative: the default 64).
void set_mma_decode_max_m(int64_t m);
int64_t mma_decode_max_m();

// The largest M that takes skinny-fp32 (act_quant None, BF16/F32/FP8Block weights).
// Every M by default: a threshold would make a row's bits depend on the batch it was computed in
// (rows of a prefill chunk vs the same rows after a prefix-cache hit or alone), which the engine's
// batch-invariance and prefix-cache tests forbid. Measured on the H200 (bench/results, run 8):
// skinny wins at decode sizes for every weight and stays close to simt-fp32 at large M for BF16,
// but the FP8 grouped wo_a is ~2.8x slower than simt at M >= 32 (a prefill cost).
constexpr int64_t kSkinnyDefaultMaxM = INT64_MAX;
// Benchmark/test hook: sets that limit (0: never skinny; negative: back to the default). Not thread-safe.
void set_skinny_max_m(int64_t m);
int64_t skinny_max_m();

// Scratch bytes linear needs for act_quant Fp8Block128 with M rows of K = w.in.
size_t linear_workspace_bytes(int64_t M, int64_t K);

struct LinearPlan {
  const char* path = "";  // "mma-fp8" | "mma-fp8-decode" | "skinny-fp32" | "simt-fp32" | "empty"
  int tile_m = 0, tile_n = 0;
  std::string why;        // why this path (and why not the tensor-core one)
};

Status check_linear(const LinearParams& p);
Status plan_linear(const LinearParams& p, LinearPlan* plan);
// Checks, then queues the GEMM on `stream`. M == 0 or N == 0 queues nothing.
Status linear(const LinearParams& p, cudaStream_t stream);

// The §9.1 activation quantization alone: q[m, k] = e4m3 code (K bytes per row), scale[m, kb] =
// the fp32 power-of-two scale of block kb (ceil(K/128) per row). Bit-exact to
// core/quant.h quantize_fp8_blocks(block 128) (scale byte = e8m0 of the fp32 scale).
// x [M, ldx] fp32; ldx >= K.
Status act_quant_fp8(const float* x, int64_t M, int64_t ldx, int64_t K, uint8_t* q, float* scale, cudaStream_t stream);

}  // namespace dsv4::cuda
