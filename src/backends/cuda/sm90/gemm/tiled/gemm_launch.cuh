// Host-side launch helpers over gemm_core.cuh's kernels (included by linear.cu and moe_routed.cu).
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/sm90/gemm/tiled/gemm_core.cuh"
#include "core/linear_weight.h"

namespace dsv4::cuda::gemm {

inline int wfmt_of(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return kF32;
    case WeightFormat::BF16: return kBF16;
    case WeightFormat::FP8Block: return kFP8;
    case WeightFormat::MXFP4: return kMXFP4;
    case WeightFormat::NVFP4: return kNVFP4;
  }
  return kF32;
}

// MMA tile configurations. Every configuration computes each output with the same instruction
// sequence (batch invariance), so the choice may depend on M and N freely.
enum MmaTile : int { kTileAuto = 0, kTile16x64 = 1, kTile64x128 = 2, kTile64x64 = 3, kTile16x32 = 4 };
constexpr int kMmaSmallBM = 16, kMmaSmallBN = 64, kMmaLargeBM = 64, kMmaLargeBN = 128;
inline int tile_bm(int t) { return (t == kTile16x64 || t == kTile16x32) ? 16 : 64; }
inline int tile_bn(int t) { return t == kTile64x128 ? 128 : t == kTile16x32 ? 32 : 64; }
inline const char* tile_name(int t) {
  switch (t) {
    case kTile16x64: return "16x64";
    case kTile64x128: return "64x128";
    case kTile64x64: return "64x64";
    case kTile16x32: return "16x32";
  }
  return "?";
}
// Benchmark hook (gemm/tuning.h): forces the tile of M > 32 calls (0 = default 64x128).
int& mma_large_tile_override();

template <int EPI>
cudaError_t launch_simt(int wf, int act, dim3 grid, const GemmArgs& a, cudaStream_t st) {
  const dim3 block(kSimtThreads);
  if (act == kActNvfp4) {
    if (wf != kNVFP4) return cudaErrorInvalidValue;
    simt_gemm<kNVFP4, kActNvfp4, EPI><<<grid, block, 0, st>>>(a);
    return cudaGetLastError();
  }
  if (act != kActNone) return cudaErrorInvalidValue;
  switch (wf) {
    case kF32: simt_gemm<kF32, kActNone, EPI><<<grid, block, 0, st>>>(a); break;
    case kBF16: simt_gemm<kBF16, kActNone, EPI><<<grid, block, 0, st>>>(a); break;
    case kFP8: simt_gemm<kFP8, kActNone, EPI><<<grid, block, 0, st>>>(a); break;
    case kMXFP4: simt_gemm<kMXFP4, kActNone, EPI><<<grid, block, 0, st>>>(a); break;
    case kNVFP4: simt_gemm<kNVFP4, kActNone, EPI><<<grid, block, 0, st>>>(a); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <int WF, int EPI>
cudaError_t launch_mma_wf(int tile, dim3 grid, const GemmArgs& a, cudaStream_t st) {
  const dim3 block(128);
  switch (tile) {
    case kTile16x64: mma_gemm<WF, 1, 4, 1, 2, 4, EPI><<<grid, block, 0, st>>>(a); break;
    case kTile64x128: mma_gemm<WF, 2, 2, 2, 8, 1, EPI><<<grid, block, 0, st>>>(a); break;
    case kTile64x64: mma_gemm<WF, 2, 2, 2, 4, 1, EPI><<<grid, block, 0, st>>>(a); break;
    case kTile16x32:
      if constexpr (EPI == kEpiStore) {
        mma_gemm<WF, 1, 4, 1, 1, 4, EPI><<<grid, block, 0, st>>>(a);
        break;
      } else {
        return cudaErrorInvalidValue;
      }
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <int EPI>
cudaError_t launch_mma(int wf, int tile, dim3 grid, const GemmArgs& a, cudaStream_t st) {
  if (wf == kFP8) return launch_mma_wf<kFP8, EPI>(tile, grid, a, st);
  if (wf == kMXFP4) return launch_mma_wf<kMXFP4, EPI>(tile, grid, a, st);
  return cudaErrorInvalidValue;
}

// The format's name (core's weight_format_name lives in the engine library, which links after this one).
inline const char* format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "f32";
    case WeightFormat::BF16: return "bf16";
    case WeightFormat::FP8Block: return "fp8-block128";
    case WeightFormat::MXFP4: return "mxfp4";
    case WeightFormat::NVFP4: return "nvfp4";
  }
  return "?";
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Queues the §9.1 activation quantization of x [M, ldx] (K columns) into q [M, K], s [M, ceil(K/128)].
inline cudaError_t launch_act_quant(const float* x, int64_t M, int64_t ldx, int64_t K, uint8_t* q, float* s,
                                    cudaStream_t st) {
  const int64_t items = M * ((K + 127) / 128);
  if (items == 0) return cudaSuccess;
  act_quant_fp8_kernel<><<<unsigned((items + 3) / 4), 128, 0, st>>>(x, M, ldx, K, q, s);
  return cudaGetLastError();
}

inline size_t align256(size_t b) { return (b + 255) & ~size_t(255); }



}  // namespace dsv4::cuda::gemm
